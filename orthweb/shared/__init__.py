"""Facts and rules every layer shares, each defined once: ports, roles, tag keys and limits
(`constants`), capacity arithmetic (`sizing`), what hosts report (`telemetry`), sign-in and its
role table (`sso`, `access`), the DICOM modalities (`modalities`), and what a user may be shown
(`redaction`). Pure: no Pulumi, no AWS SDK, and no orthweb imports outside this package."""
