//! `strata-meta`: Metadata store: the MetaStore trait and its embedded (redb) and in-memory backends.
