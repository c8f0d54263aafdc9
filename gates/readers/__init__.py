"""Every input format, one module each: tables (`table`, `arrow`, `columns`), predictions, JUnit and coverage
(`junit`), vulnerability reports (`vulnerabilities` detects the format; `grype`, `trivy`, `pip_audit`,
`sarif` read them). Readers turn bytes into typed values or a one-line InputError naming the place; they
decide nothing."""
