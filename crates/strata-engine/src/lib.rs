//! `strata-engine`: Volumes: thin extent-mapped volumes over tier devices, slot allocation, durable extent maps.
