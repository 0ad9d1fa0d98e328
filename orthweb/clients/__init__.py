"""Clients of a deployed site's protocols, as `orthweb verify` speaks them: DICOM over TLS
(`dicom`) and DICOMweb (`dicomweb`). Runtime dependencies only; the runtime harness builds on them."""
