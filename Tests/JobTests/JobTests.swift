import Testing

/// The distributed job's multi-process tests, one at a time (each starts several processes; on a 2-core CI machine
/// running suites side by side would only make timings noisy).
@Suite(.serialized) enum JobTests {}
