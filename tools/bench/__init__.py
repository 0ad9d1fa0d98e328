"""Benchmarks: modeled deploy time, DICOM and web throughput, program cost."""
