//! The [`PlacementPolicy`] trait: the one interface every placement policy implements, and
//! the contract between a policy and whoever executes its decisions.

use crate::{Access, ExtentId, Forecast, Move, TierId, TierView};

/// How the executor should size the tiers for this policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TierSizing {
    /// Use the configured capacities (every real policy).
    AsConfigured,
    /// Give the fastest tier unlimited capacity. Only simulator bounds (`all-fast`) ask for
    /// this; the engine refuses such a policy.
    UnboundedFastest,
}

/// A placement policy: observations in, placement decisions out.
///
/// Policies are pure: no I/O, no clocks, no threads. Time comes in through [`Access::time_ns`]
/// and the `now_ns` of [`plan`](Self::plan). The engine and the simulator execute the same
/// decisions.
///
/// # The executor contract
///
/// * [`place_new`](Self::place_new) must return a tier that [`TierView::has_room`] for.
///   Otherwise the executor places the extent on the fastest slower tier with room and counts
///   the decision as rejected.
/// * Moves are applied one by one, in the order returned. A move is executed only if, at the
///   moment it is applied, `from` is where the extent lives, `to` is a different, existing
///   tier, and `to` has a free extent slot. **A move into a full tier is rejected, never
///   forced**: a policy that wants to fill a full tier returns a demotion of a victim first,
///   in the same batch; the demotion frees its slot at once.
/// * The moves of one [`plan`](Self::plan) call copy at most `budget_bytes` in total (each move
///   copies [`TierView::extent_bytes`]); the executor rejects the excess as over budget.
///   Moves returned by [`on_access`](Self::on_access) are not budgeted: keep them few.
/// * Rejected moves are dropped, not retried, and the executor reports each one to
///   [`refused`](Self::refused), whenever it refuses it: at once (a full mover queue, over
///   budget, another move of an extent whose move is queued; not a repeat of the very move
///   queued, which still runs) or when it fails to run it. A policy must not rely
///   on its own moves having happened; it reads [`TierView::location`] when it needs the
///   truth. That truth lags: the engine switches an extent's location only when its copy
///   commits, so a move decided but not yet run still shows the extent where it was.
///
/// The shared conformance test (`tests/conformance.rs`) checks every registered policy
/// against this contract.
pub trait PlacementPolicy: std::fmt::Debug + Send {
    /// The registered name (`static`, `lru-promote`, …).
    fn name(&self) -> &str;

    /// How the executor sizes the tiers; real policies keep the default.
    fn tier_sizing(&self) -> TierSizing {
        TierSizing::AsConfigured
    }

    /// Chooses the tier for an extent that is about to be written for the first time.
    fn place_new(&mut self, extent: ExtentId, view: &dyn TierView) -> TierId;

    /// Tells the policy, before its first access, that `extent` already lives on `tier`,
    /// above the slowest: an earlier run of the server put it there, and this policy did
    /// not see it happen. The engine calls it at open for every such extent. A policy that
    /// evicts only the residents it knows takes these in as its coldest; otherwise they
    /// would hold the fast tiers for ever, since nothing it knows of would make them leave.
    /// The default keeps no books of residents and does nothing.
    fn adopt(&mut self, extent: ExtentId, tier: TierId, view: &dyn TierView) {
        let _ = (extent, tier, view);
    }

    /// Drops what the policy keeps about every volume `keep` refuses: the engine calls it
    /// when a volume is deleted, and at open with the volumes that still exist (a crash may
    /// have come between a deletion and the next save of the state). Volume ids are never
    /// reused, so nothing kept about a deleted volume is of use again; it would only grow
    /// the books, the saved state and each plan's work. The default keeps nothing per
    /// volume.
    fn retain_volumes(&mut self, keep: &dyn Fn(u64) -> bool) {
        let _ = keep;
    }

    /// The executor unmapped `extents`: their volumes trimmed (or zeroed) each whole, so
    /// their data is gone and their slots are free. It comes after every access to them
    /// before the unmapping; a later write places one anew through
    /// [`place_new`](Self::place_new). A policy drops what it keeps about them (heat, a
    /// place in a queue, the tier it had them on): kept, a policy that counts its own
    /// residents goes on counting slots nobody holds. The engine calls it only for extents
    /// still unmapped when it does, in batches (one trim of a large volume can unmap
    /// thousands); the default keeps nothing per extent.
    fn unmapped(&mut self, extents: &[ExtentId]) {
        let _ = extents;
    }

    /// Observes one foreground access after it was served (the extent is placed) and returns
    /// moves to execute right away, queued behind the triggering request.
    fn on_access(&mut self, access: &Access, view: &dyn TierView) -> Vec<Move>;

    /// Background planning, called every planning interval with the interval's migration
    /// budget. The default plans nothing.
    fn plan(&mut self, now_ns: u64, view: &dyn TierView, budget_bytes: u64) -> Vec<Move> {
        let _ = (now_ns, view, budget_bytes);
        Vec::new()
    }

    /// The executor refused `mv`, one of this policy's moves: it did not and will not happen.
    /// A policy that keeps books of what it decided (a victim it no longer counts as
    /// resident) puts them right here; the default keeps no such books.
    fn refused(&mut self, mv: &Move) {
        let _ = mv;
    }

    /// Hands the policy the latest forecast (replacing the previous one). Policies that use
    /// no forecast ignore it, which is the default.
    fn observe_forecast(&mut self, forecast: &Forecast) {
        let _ = forecast;
    }

    /// For a policy that follows other policies (`strata`), the one it follows now; `None`,
    /// the default, for the others.
    fn following(&self) -> Option<&str> {
        None
    }

    /// Replaces the soft reservations the policy should respect (capacity of a tier held
    /// for one volume). Executors enforce reservations themselves; a policy that plans
    /// around them (`strata`) keeps them, the others ignore them, which is the default.
    fn set_reservations(&mut self, reservations: &[crate::Reservation]) {
        let _ = reservations;
    }

    /// Tells the policy how the executor starts copies ([`crate::CopyModel`]): under the
    /// engine's mover a disk in use gives copies only a share of its time. A policy that
    /// budgets copy time (`strata`) plans what will run; the others ignore it, which is the
    /// default.
    fn set_copies(&mut self, copies: crate::CopyModel) {
        let _ = copies;
    }

    /// What the policy has learnt that a restart should keep (`strata`: the candidate it
    /// follows and its heat map), as bytes for [`Self::load_state`]; `None`, the default,
    /// for a policy that keeps nothing worth saving. Times in it are on the clock the
    /// policy was given, so whoever saves the state must keep that clock going across the
    /// restart.
    fn save_state(&self) -> Option<Vec<u8>> {
        None
    }

    /// Starts warm from what [`Self::save_state`] returned, before the first access. On an
    /// error (bytes corrupt, or saved under another configuration) nothing changes. The
    /// default refuses every state: it saves none.
    fn load_state(&mut self, bytes: &[u8]) -> Result<(), crate::PolicyError> {
        let _ = bytes;
        Err(crate::PolicyError::new(
            crate::PolicyErrorKind::InvalidConfig,
            self.name(),
            "this policy keeps no saved state",
        ))
    }
}
