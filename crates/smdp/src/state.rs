//! SM-DP+ Profile state machine, SGP.22 v2.2.2 §3.1.1 (Profile download
//! initiation), §3.1.3 (download and installation) and §5.3 (ES2+).
//!
//! ```text
//!  Available --DownloadOrder(no EID)--> Allocated --ConfirmOrder(release=false)--> Confirmed
//!  Available --DownloadOrder(EID)-----> Linked    --ConfirmOrder(release=true)---> Released
//!  Confirmed --ReleaseProfile--> Released --BPP delivered--> Downloaded --PIR ok--> Installed
//!  Released|Downloaded --eligibility / expiry / retry limit failure--> Error
//!  Allocated|Linked|Confirmed|Released|Error --CancelOrder--> Available | Unavailable
//!  Downloaded --CancelOrder--> Unavailable     (a bound BPP left the SM-DP+)
//!  Installed --Retire--> Unavailable           (Profile deleted; ICCID never reused)
//! ```
//!
//! A Profile in `Released` or `Downloaded` may start new download sessions
//! (retry after an interrupted download or a failed installation, §3.1.3);
//! `Downloaded -> Downloaded` is such a retry, not a transition.

use serde::{Deserialize, Serialize};

/// State of a Profile in the SM-DP+ inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ProfileState {
    Available,
    Allocated,
    Linked,
    Confirmed,
    Released,
    Downloaded,
    Installed,
    Error,
    Unavailable,
}

/// The final state requested by ES2+.CancelOrder (§5.3.3
/// `finalProfileStatusIndicator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FinalProfileStatus {
    Available,
    Unavailable,
}

impl FinalProfileStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalProfileStatus::Available => "Available",
            FinalProfileStatus::Unavailable => "Unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "Available" => Some(FinalProfileStatus::Available),
            "Unavailable" => Some(FinalProfileStatus::Unavailable),
            _ => None,
        }
    }

    pub fn state(self) -> ProfileState {
        match self {
            FinalProfileStatus::Available => ProfileState::Available,
            FinalProfileStatus::Unavailable => ProfileState::Unavailable,
        }
    }
}

/// Events that move a Profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileEvent {
    /// ES2+.DownloadOrder; `eid_bound` when the order carries an EID (§5.3.1).
    DownloadOrder { eid_bound: bool },
    /// ES2+.ConfirmOrder with `releaseFlag` (§5.3.2).
    ConfirmOrder { release: bool },
    /// ES2+.ReleaseProfile (§5.3.4).
    Release,
    /// ES9+.GetBoundProfilePackage delivered a BPP (§5.6.2).
    BppDelivered,
    /// Profile Installation Result reported success (§5.6.4 / §3.1.3.3).
    InstallSucceeded,
    /// Eligibility check, order expiry or a retry limit failed (§3.1.3).
    Failed,
    /// ES2+.CancelOrder (§5.3.3).
    Cancel(FinalProfileStatus),
    /// An installed Profile was deleted: its ICCID is retired.
    Retire,
}

/// The event does not apply to the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid Profile transition: {event:?} in state {from:?}")]
pub struct InvalidTransition {
    pub from: ProfileState,
    pub event: ProfileEvent,
}

impl ProfileState {
    pub const ALL: [ProfileState; 9] = [
        ProfileState::Available,
        ProfileState::Allocated,
        ProfileState::Linked,
        ProfileState::Confirmed,
        ProfileState::Released,
        ProfileState::Downloaded,
        ProfileState::Installed,
        ProfileState::Error,
        ProfileState::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProfileState::Available => "Available",
            ProfileState::Allocated => "Allocated",
            ProfileState::Linked => "Linked",
            ProfileState::Confirmed => "Confirmed",
            ProfileState::Released => "Released",
            ProfileState::Downloaded => "Downloaded",
            ProfileState::Installed => "Installed",
            ProfileState::Error => "Error",
            ProfileState::Unavailable => "Unavailable",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        ProfileState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// A download session may start (or restart) in this state (§3.1.3:
    /// 'Released', or 'Downloaded' when retrying after a failed attempt).
    pub fn is_downloadable(self) -> bool {
        matches!(self, ProfileState::Released | ProfileState::Downloaded)
    }

    /// The Profile has a pending download order (ES2+.CancelOrder applies).
    pub fn has_order(self) -> bool {
        matches!(
            self,
            ProfileState::Allocated
                | ProfileState::Linked
                | ProfileState::Confirmed
                | ProfileState::Released
                | ProfileState::Downloaded
                | ProfileState::Error
        )
    }

    /// Whether `self -> to` is an allowed transition (self-loops are not
    /// transitions and return false).
    pub fn can_transition_to(self, to: ProfileState) -> bool {
        use ProfileState::*;
        matches!(
            (self, to),
            (Available, Allocated | Linked)
                | (
                    Allocated | Linked,
                    Confirmed | Released | Available | Unavailable
                )
                | (Confirmed, Released | Available | Unavailable)
                | (Released, Downloaded | Error | Available | Unavailable)
                | (Downloaded, Installed | Error | Unavailable)
                | (Installed, Unavailable)
                | (Error, Available | Unavailable)
        )
    }

    /// The state after `event`, or [`InvalidTransition`].
    pub fn apply(self, event: ProfileEvent) -> Result<ProfileState, InvalidTransition> {
        use ProfileState::*;
        let to = match (self, event) {
            (Available, ProfileEvent::DownloadOrder { eid_bound: false }) => Allocated,
            (Available, ProfileEvent::DownloadOrder { eid_bound: true }) => Linked,
            (Allocated | Linked, ProfileEvent::ConfirmOrder { release: false }) => Confirmed,
            (Allocated | Linked, ProfileEvent::ConfirmOrder { release: true }) => Released,
            (Confirmed, ProfileEvent::Release) => Released,
            // A retry in Downloaded re-delivers a BPP and stays Downloaded.
            (Released | Downloaded, ProfileEvent::BppDelivered) => Downloaded,
            (Downloaded, ProfileEvent::InstallSucceeded) => Installed,
            (Released | Downloaded, ProfileEvent::Failed) => Error,
            (Installed, ProfileEvent::Retire) => Unavailable,
            (from, ProfileEvent::Cancel(fin)) if from.has_order() => {
                let to = fin.state();
                if from.can_transition_to(to) {
                    to
                } else {
                    return Err(InvalidTransition { from, event });
                }
            }
            (from, event) => return Err(InvalidTransition { from, event }),
        };
        debug_assert!(to == self || self.can_transition_to(to));
        Ok(to)
    }
}

impl std::fmt::Display for ProfileState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ProfileEvent as E;
    use super::ProfileState::*;
    use super::*;

    /// Every allowed (from, to) pair, written out independently of the code.
    const ALLOWED: &[(ProfileState, ProfileState)] = &[
        (Available, Allocated),
        (Available, Linked),
        (Allocated, Confirmed),
        (Allocated, Released),
        (Allocated, Available),
        (Allocated, Unavailable),
        (Linked, Confirmed),
        (Linked, Released),
        (Linked, Available),
        (Linked, Unavailable),
        (Confirmed, Released),
        (Confirmed, Available),
        (Confirmed, Unavailable),
        (Released, Downloaded),
        (Released, Error),
        (Released, Available),
        (Released, Unavailable),
        (Downloaded, Installed),
        (Downloaded, Error),
        (Downloaded, Unavailable),
        (Installed, Unavailable),
        (Error, Available),
        (Error, Unavailable),
    ];

    #[test]
    fn transition_table_is_exact() {
        for from in ProfileState::ALL {
            for to in ProfileState::ALL {
                let expected = ALLOWED.contains(&(from, to));
                assert_eq!(from.can_transition_to(to), expected, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn forbidden_sample() {
        for (from, to) in [
            (Available, Released),
            (Available, Installed),
            (Allocated, Downloaded),
            (Confirmed, Downloaded),
            (Downloaded, Available),
            (Installed, Available),
            (Installed, Error),
            (Unavailable, Available),
            (Error, Released),
            (Linked, Allocated),
        ] {
            assert!(!from.can_transition_to(to), "{from} -> {to}");
        }
    }

    #[test]
    fn events() {
        assert_eq!(
            Available.apply(E::DownloadOrder { eid_bound: false }),
            Ok(Allocated)
        );
        assert_eq!(
            Available.apply(E::DownloadOrder { eid_bound: true }),
            Ok(Linked)
        );
        assert_eq!(
            Allocated.apply(E::ConfirmOrder { release: false }),
            Ok(Confirmed)
        );
        assert_eq!(
            Linked.apply(E::ConfirmOrder { release: true }),
            Ok(Released)
        );
        assert_eq!(Confirmed.apply(E::Release), Ok(Released));
        assert_eq!(Released.apply(E::BppDelivered), Ok(Downloaded));
        assert_eq!(Downloaded.apply(E::BppDelivered), Ok(Downloaded));
        assert_eq!(Downloaded.apply(E::InstallSucceeded), Ok(Installed));
        assert_eq!(Released.apply(E::Failed), Ok(Error));
        assert_eq!(Downloaded.apply(E::Failed), Ok(Error));
        assert_eq!(
            Error.apply(E::Cancel(FinalProfileStatus::Available)),
            Ok(Available)
        );
        assert_eq!(
            Downloaded.apply(E::Cancel(FinalProfileStatus::Unavailable)),
            Ok(Unavailable)
        );
        assert_eq!(Installed.apply(E::Retire), Ok(Unavailable));

        for (from, ev) in [
            (Available, E::ConfirmOrder { release: true }),
            (Allocated, E::DownloadOrder { eid_bound: true }),
            (Confirmed, E::BppDelivered),
            (Allocated, E::Release),
            (Released, E::Release),
            (Released, E::InstallSucceeded),
            (Downloaded, E::Cancel(FinalProfileStatus::Available)),
            (Installed, E::Cancel(FinalProfileStatus::Unavailable)),
            (Available, E::Cancel(FinalProfileStatus::Unavailable)),
            (Confirmed, E::Failed),
            (Unavailable, E::Retire),
        ] {
            assert_eq!(
                from.apply(ev),
                Err(InvalidTransition { from, event: ev }),
                "{from} {ev:?}"
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for s in ProfileState::ALL {
            assert_eq!(ProfileState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProfileState::parse("available"), None);
    }
}
