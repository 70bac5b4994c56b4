//! What the shared-trace evidence tests have in common.

use std::path::PathBuf;
use strata_sim::trace::TimeUnit;

/// (file, time unit) of every shared trace (`../shared/traces`, next to the repository);
/// `mqsim` is in ns, as its README says.
pub fn shared_traces() -> Vec<(PathBuf, TimeUnit)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces");
    [
        "msr_hm_0_sample1000.csv",
        "systor17_traces_sample.csv.gz",
        "cloudphysics_vscsi_sample.csv.gz",
        "msn_fs_excerpt.trace.gz",
        "arc_OLTP.lis.gz",
        "arc_P3.lis.gz",
        "arc_P6.lis.gz",
        "arc_P12.lis.gz",
        "mqsim_tpcc-small.trace",
    ]
    .into_iter()
    .map(|name| {
        let unit = if name.starts_with("mqsim") {
            TimeUnit::Ns
        } else {
            TimeUnit::Ms
        };
        (dir.join(name), unit)
    })
    .collect()
}
