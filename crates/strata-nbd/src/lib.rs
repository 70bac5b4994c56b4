//! `strata-nbd`: NBD protocol: a fixed-newstyle server over an export trait, and a small client.
