"""Sufficient statistics from a table: confusion cells per group and score bin, computed as sums that merge
across chunks or partitions, so the gates decide (and resample) on small cells, never on rows.
`local` reads Parquet or CSV chunk by chunk with pyarrow; `groups` codes the sensitive columns."""
