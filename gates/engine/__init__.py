"""Sufficient statistics from a table: confusion cells per group and score bin, and drift profiles, computed
as sums that merge across chunks or partitions, so the gates decide (and resample) on small cells, never on
rows. `choose` picks the engine; `local` reads one file with pyarrow (in chunks when it is large); `cells`
holds the one SQL definition of the cells that `duckdb` (embedded, out of core) and `spark` (a cluster) run;
`duckdb_profiles` computes drift reference profiles; `groups` codes the sensitive columns."""
