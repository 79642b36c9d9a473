// The host's memory bandwidth, measured: the ceiling CPU benchmarks print beside their figures.
#ifndef SWITCHYARD_SHELLS_SWITCHYARD_HOST_BANDWIDTH_H_
#define SWITCHYARD_SHELLS_SWITCHYARD_HOST_BANDWIDTH_H_

namespace sy::cli {

// GB/s of the best of five 256 MiB memcpys, counting bytes read plus bytes written.
double MeasureCopyGBps();

}  // namespace sy::cli

#endif  // SWITCHYARD_SHELLS_SWITCHYARD_HOST_BANDWIDTH_H_
