//! `strata-sim`: Trace readers, the canonical block stream, and the cache / tier simulator.
