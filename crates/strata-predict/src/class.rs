//! Workload classes (INTERFACE.md: `database`, `web`, `file`, `dev`, `vdi`, `backup`,
//! `unknown`): the label a classifier gives a volume, used here to seed which predictor
//! the auto predictor trusts first.

use std::fmt;
use std::str::FromStr;

use crate::error::{PredictError, PredictErrorKind};

/// A volume's workload class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum WorkloadClass {
    Database,
    Web,
    File,
    Dev,
    Vdi,
    Backup,
    #[default]
    Unknown,
}

impl WorkloadClass {
    pub const ALL: [WorkloadClass; 7] = [
        WorkloadClass::Database,
        WorkloadClass::Web,
        WorkloadClass::File,
        WorkloadClass::Dev,
        WorkloadClass::Vdi,
        WorkloadClass::Backup,
        WorkloadClass::Unknown,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadClass::Database => "database",
            WorkloadClass::Web => "web",
            WorkloadClass::File => "file",
            WorkloadClass::Dev => "dev",
            WorkloadClass::Vdi => "vdi",
            WorkloadClass::Backup => "backup",
            WorkloadClass::Unknown => "unknown",
        }
    }
}

impl fmt::Display for WorkloadClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WorkloadClass {
    type Err = PredictError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|class| class.name() == wanted)
            .ok_or_else(|| {
                PredictError::new(
                    PredictErrorKind::UnknownClass,
                    s,
                    "unknown workload class (known: database, web, file, dev, vdi, backup, unknown)",
                )
            })
    }
}
