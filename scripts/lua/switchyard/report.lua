-- Plain-text reporting for scripts: aligned tables and horizontal bars.
local report = {}

-- Prints rows (arrays of values) under `headers`, each column padded to its widest cell.
-- Numbers are right-aligned, everything else left-aligned.
function report.table(headers, rows)
  local widths = {}
  for i, h in ipairs(headers) do widths[i] = #tostring(h) end
  for _, row in ipairs(rows) do
    for i, cell in ipairs(row) do widths[i] = math.max(widths[i] or 0, #tostring(cell)) end
  end
  local function line(cells, is_header)
    local out = {}
    for i = 1, #headers do
      local cell = tostring(cells[i] == nil and "" or cells[i])
      local pad = string.rep(" ", widths[i] - #cell)
      if type(cells[i]) == "number" and not is_header then
        out[i] = pad .. cell
      else
        out[i] = i < #headers and cell .. pad or cell  -- no trailing spaces
      end
    end
    return table.concat(out, "  ")
  end
  print(line(headers, true))
  local rule = {}
  for i = 1, #headers do rule[i] = string.rep("-", widths[i]) end
  print(table.concat(rule, "  "))
  for _, row in ipairs(rows) do print(line(row, false)) end
end

-- A bar of `width` characters scaled so that `max` fills it.
function report.bar(value, max, width)
  width = width or 40
  if max <= 0 then return "" end
  return string.rep("#", math.floor(value / max * width + 0.5))
end

-- Load-balance statistics of a list of counts: max/mean, coefficient of variation and Jain's
-- fairness index ((sum x)^2 / (n * sum x^2); 1 = perfectly even).
function report.balance(counts)
  local n, sum, sum_sq, max = #counts, 0, 0, 0
  for _, c in ipairs(counts) do
    sum, sum_sq, max = sum + c, sum_sq + c * c, math.max(max, c)
  end
  local mean = sum / n
  local variance = sum_sq / n - mean * mean
  return {
    max_over_mean = mean > 0 and max / mean or 0,
    cv = mean > 0 and math.sqrt(math.max(variance, 0)) / mean or 0,
    jain = sum_sq > 0 and (sum * sum) / (n * sum_sq) or 1,
  }
end

return report
