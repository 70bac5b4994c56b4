//! The placement policy across restarts: its clock and what it has learnt (`strata`: its
//! heat map and the candidate it follows), saved in the store at shutdown (after the planner's last poll of the access
//! rings) and by the planner every [`SAVE_INTERVAL`] in which accesses arrived, and loaded
//! when the engine opens, so a restarted server starts warm. At open the policy is also
//! handed every extent the last run left above the slowest tier (`hand_over_placement`):
//! saved state or not, it saw none of them placed, and a policy that evicts only what it
//! knows would otherwise keep them there for ever; and it forgets volumes deleted after the
//! state was saved. A saved state is advice,
//! never data: one that does not load (corrupt, or saved under another heat configuration)
//! is logged and the policy starts cold.

use super::Tiering;
use super::view::EngineView;
use crate::engine::EngineInner;
use crate::store_format::{
    POLICY_CLOCK_KEY, decode_policy_state, decode_u64, encode_policy_state, encode_u64,
    policy_state_key,
};
use crate::{EngineError, Result};
use std::time::Duration;
use strata_meta::{MetaStore, Op};
use strata_policy::{ExtentId, PlacementPolicy, TierId};

/// How often the planner saves the policy's state (a crash loses at most this much).
pub(crate) const SAVE_INTERVAL: Duration = Duration::from_secs(60);

/// Restores `policy` from its saved state, if any, and returns the clock to resume from (0
/// on a new store, or when the saved clock does not read: then the state, whose times are
/// on that clock, is not loaded either).
pub(crate) fn load(store: &dyn MetaStore, policy: &mut dyn PlacementPolicy) -> Result<u64> {
    let clock_ns = match store
        .get(POLICY_CLOCK_KEY)
        .map_err(|e| EngineError::store("open", e))?
        .map(|value| decode_u64(&value))
    {
        Some(Ok(clock_ns)) => clock_ns,
        Some(Err(e)) => {
            tracing::warn!(error = %e, "saved placement clock not read; the policy starts cold");
            return Ok(0);
        }
        None => 0,
    };
    let key = policy_state_key(policy.name());
    if let Some(value) = store.get(&key).map_err(|e| EngineError::store("open", e))? {
        let loaded = decode_policy_state(&value)
            .map_err(|e| e.to_string())
            .and_then(|state| policy.load_state(state).map_err(|e| e.to_string()));
        match loaded {
            Ok(()) => tracing::info!(
                policy = policy.name(),
                bytes = value.len(),
                "placement policy starts warm"
            ),
            Err(e) => tracing::warn!(
                policy = policy.name(),
                error = %e,
                "saved placement state not loaded; the policy starts cold"
            ),
        }
    }
    Ok(clock_ns)
}

/// Hands the policy the placement it starts over: a saved state forgets the volumes
/// deleted since it was saved ([`PlacementPolicy::retain_volumes`]), and every extent the
/// last run left above the slowest tier is adopted ([`PlacementPolicy::adopt`]), so the
/// policy can evict it; saved state or not, the policy saw none of them placed.
pub(crate) fn hand_over_placement(inner: &EngineInner) {
    let view = EngineView::new(inner);
    let slowest = inner.tiers.len().saturating_sub(1);
    let volumes = inner.volumes_by_id();
    let mut policy = inner.tiering.policy.lock();
    policy.retain_volumes(&|id| volumes.contains_key(&id));
    let mut adopted = 0u64;
    for (&volume, vol) in volumes.iter() {
        let upper = vol.map.allocated().filter(|(_, p)| p.tier < slowest);
        for (index, placement) in upper {
            if let Ok(rank) = u8::try_from(placement.tier) {
                policy.adopt(ExtentId::new(volume, index), TierId(rank), &view);
                adopted += 1;
            }
        }
    }
    if adopted > 0 {
        tracing::info!(
            policy = policy.name(),
            extents = adopted,
            "placement policy adopted the residents of the fast tiers"
        );
    }
}

/// Saves the policy's state and the clock its times are on, in one commit.
pub(crate) fn save(store: &dyn MetaStore, tiering: &Tiering) -> Result<()> {
    let (name, state) = {
        let policy = tiering.policy.lock();
        (policy.name().to_owned(), policy.save_state())
    };
    // After the state: every time in it is at most this.
    let clock_ns = tiering.now_ns();
    let mut batch = vec![Op::put(POLICY_CLOCK_KEY, encode_u64(clock_ns))];
    if let Some(state) = state {
        batch.push(Op::put(
            policy_state_key(&name),
            encode_policy_state(&state),
        ));
    }
    store
        .commit(&batch)
        .map_err(|e| EngineError::store("save placement state", e))
}

#[cfg(test)]
mod tests {
    use crate::testing::{MIB, Rig, pattern, quick_placement, wait_for};
    use crate::{Engine, VolumeSpec};
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;
    use strata_meta::{MemoryStore, MetaStore};
    use strata_policy::{ExtentId, Strata};

    /// Decayed visits of `extent` in the policy's heat map now.
    fn heat_of(engine: &Engine, extent: ExtentId) -> f32 {
        let tiering = &engine.inner().tiering;
        let state = tiering.policy.lock().save_state().expect("strata saves");
        let heat = Strata::saved_heat_map(&state).expect("a heat map");
        heat.sample(extent, tiering.now_ns())
            .map_or(0.0, |sample| sample.total())
    }

    /// A strata engine with one volume whose extent 3 was read 20 times, seen by the policy.
    fn warmed_up(store: Arc<dyn MetaStore>) -> (Rig, ExtentId) {
        let (rig, extent) = read_twenty_times(store, quick_placement("strata"));
        wait_for(
            "the policy to see the reads",
            Duration::from_secs(20),
            || heat_of(&rig.engine, extent) >= 20.0,
        );
        (rig, extent)
    }

    /// An engine under `placement` with one volume whose extent 3 was read 20 times.
    fn read_twenty_times(
        store: Arc<dyn MetaStore>,
        placement: crate::PlacementConfig,
    ) -> (Rig, ExtentId) {
        let rig = Rig::with_placement(&[8 * MIB, 64 * MIB], store, placement);
        let volume = rig
            .engine
            .create_volume(VolumeSpec::new("v", 16 * MIB))
            .unwrap();
        let handle = rig.engine.open_volume("v").unwrap();
        handle.write(3 * MIB, &pattern(3, 4096), false).unwrap();
        let mut buf = vec![0u8; 4096];
        for _ in 0..20 {
            handle.read(3 * MIB, &mut buf).unwrap();
        }
        (rig, ExtentId::new(volume.id, 3))
    }

    #[test]
    fn a_restart_after_shutdown_resumes_the_clock_and_starts_warm() {
        let (mut rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        let before = heat_of(&rig.engine, extent);
        let clock_ns = rig.engine.inner().tiering.now_ns();
        rig.engine.shutdown().unwrap();
        rig.reopen();
        assert!(
            rig.engine.inner().tiering.now_ns() >= clock_ns,
            "the clock resumes"
        );
        let after = heat_of(&rig.engine, extent);
        assert!(
            after > 0.95 * before,
            "warm: {after} visits after, {before} before"
        );
    }

    #[test]
    fn the_planner_saves_the_state_so_a_crash_restarts_warm_too() {
        let (mut rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        let tiering = &rig.engine.inner().tiering;
        tiering.save_interval_ms.store(10, Ordering::Relaxed);
        let key = crate::store_format::policy_state_key("strata");
        wait_for("a periodic save", Duration::from_secs(20), || {
            rig.store
                .get(&key)
                .unwrap()
                .and_then(|value| {
                    let state = crate::store_format::decode_policy_state(&value).ok()?;
                    Strata::saved_heat_map(state).ok()
                })
                .is_some_and(|heat| heat.sample(extent, 0).is_some())
        });
        // No shutdown: the restart finds what the planner saved.
        rig.reopen();
        assert!(heat_of(&rig.engine, extent) > 15.0);
    }

    /// A state that names a leader, written here byte by byte in the format
    /// `strata_policy`'s `policies/strata/state.rs` documents as version 1 (so a change
    /// that stops such a state loading fails here; version 2 adds the challenger): the
    /// restarted engine follows the leader, says so in its stats, and starts warm.
    #[test]
    fn a_restart_follows_the_leader_the_saved_state_names() {
        let (mut rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        let following = |rig: &Rig| rig.engine.migration_stats().following;
        assert_eq!(following(&rig).as_deref(), Some("strata-cost-aware"));
        rig.engine.shutdown().unwrap();
        let key = crate::store_format::policy_state_key("strata");
        let value = rig.store.get(&key).unwrap().expect("saved at shutdown");
        let saved = crate::store_format::decode_policy_state(&value).unwrap();
        let heat = Strata::saved_heat_map(saved).unwrap().to_bytes();
        let mut state = b"STRATAPS".to_vec();
        state.extend_from_slice(&1u16.to_le_bytes());
        state.push(8);
        state.extend_from_slice(b"arc-tier");
        state.extend_from_slice(&heat);
        let fnv1a = state.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &b| {
            (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        state.extend_from_slice(&fnv1a.to_le_bytes());
        let planted = crate::store_format::encode_policy_state(&state);
        rig.store
            .commit(&[strata_meta::Op::put(key, planted)])
            .unwrap();
        rig.reopen();
        assert_eq!(following(&rig).as_deref(), Some("arc-tier"));
        assert!(heat_of(&rig.engine, extent) > 15.0);
    }

    #[test]
    fn accesses_the_planner_has_not_polled_yet_are_saved_at_shutdown() {
        // The planner's first poll is an hour away: only shutdown's last poll sees the reads.
        let placement = crate::PlacementConfig {
            access_poll_ms: 3_600_000,
            plan_interval_ms: 3_600_000,
            ..quick_placement("strata")
        };
        let (mut rig, extent) = read_twenty_times(Arc::new(MemoryStore::new()), placement);
        assert_eq!(heat_of(&rig.engine, extent), 0.0, "not polled yet");
        rig.engine.shutdown().unwrap();
        rig.reopen();
        let heat = heat_of(&rig.engine, extent);
        assert!(heat >= 20.0, "warm after the restart: {heat} visits");
    }

    #[test]
    fn an_idle_planner_does_not_save_again_until_accesses_arrive() {
        let (rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        let clock_key = crate::store_format::POLICY_CLOCK_KEY;
        let saved_clock = || rig.store.get(clock_key).unwrap();
        rig.engine
            .inner()
            .tiering
            .save_interval_ms
            .store(10, Ordering::Relaxed);
        wait_for("the first save", Duration::from_secs(20), || {
            saved_clock().is_some()
        });
        let first = saved_clock();
        // Thirty save intervals with no access: every save would store a later clock.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(saved_clock(), first, "an idle planner saved again");

        let handle = rig.engine.open_volume("v").unwrap();
        let mut buf = vec![0u8; 4096];
        handle.read(extent.index * MIB, &mut buf).unwrap();
        wait_for("a save after the access", Duration::from_secs(20), || {
            saved_clock() != first
        });
    }

    #[test]
    fn a_deleted_volume_is_forgotten_at_deletion_and_after_a_crash() {
        let (mut rig, kept) = warmed_up(Arc::new(MemoryStore::new()));
        let deleted = {
            let volume = rig
                .engine
                .create_volume(VolumeSpec::new("w", 16 * MIB))
                .unwrap();
            let handle = rig.engine.open_volume("w").unwrap();
            handle.write(0, &pattern(7, 4096), false).unwrap();
            let mut buf = vec![0u8; 4096];
            for _ in 0..20 {
                handle.read(0, &mut buf).unwrap();
            }
            ExtentId::new(volume.id, 0)
        };
        wait_for(
            "the policy to see w's reads",
            Duration::from_secs(20),
            || heat_of(&rig.engine, deleted) >= 20.0,
        );
        // Saved with both volumes.
        rig.engine.shutdown().unwrap();
        rig.reopen();
        assert!(heat_of(&rig.engine, deleted) > 15.0);

        rig.engine.delete_volume("w").unwrap();
        assert_eq!(heat_of(&rig.engine, deleted), 0.0, "forgotten at deletion");
        // A crash before the next save: the saved state still has w, the restart drops it.
        rig.reopen();
        assert_eq!(
            heat_of(&rig.engine, deleted),
            0.0,
            "forgotten after the crash"
        );
        assert!(heat_of(&rig.engine, kept) > 15.0, "v's heat stays");
    }

    #[test]
    fn a_crash_keeps_only_what_was_saved_and_a_bad_state_starts_cold() {
        let (mut rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        // No shutdown and no periodic save yet: the restart starts cold.
        rig.reopen();
        assert_eq!(heat_of(&rig.engine, extent), 0.0);

        let key = crate::store_format::policy_state_key("strata");
        rig.store.put(&key, &[1, 0xde, 0xad]).unwrap();
        rig.reopen();
        assert_eq!(heat_of(&rig.engine, extent), 0.0, "opens, cold");
        rig.store.put(&key, &[9]).unwrap();
        rig.reopen();
        assert_eq!(heat_of(&rig.engine, extent), 0.0, "an unknown version too");

        // A good state with a clock that does not read: opens at 0, cold.
        let (mut rig, extent) = warmed_up(Arc::new(MemoryStore::new()));
        rig.engine.shutdown().unwrap();
        let clock = crate::store_format::POLICY_CLOCK_KEY;
        rig.store.put(clock, &[1, 2, 3]).unwrap();
        rig.reopen();
        assert_eq!(heat_of(&rig.engine, extent), 0.0);
        assert!(rig.engine.inner().tiering.now_ns() < 60_000_000_000);
    }
}
