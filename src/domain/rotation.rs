//! The rotation schedule rule: when a credential's rotation is due, and how the
//! compliance report and the `rotation=` filter classify it.
//!
//! **Invariant:** one rule for every reader (API, compliance report, console): a rotation
//! is `Due` within [`DUE_WINDOW_MS`] before its due date and `Overdue` after it.

/// Milliseconds before a due date from which a rotation counts as due (7 days).
pub const DUE_WINDOW_MS: i64 = 7 * 86_400_000;

/// Where a credential stands against its rotation schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RotationStatus {
    /// No schedule is set.
    Unscheduled,
    /// Rotated recently enough.
    Ok,
    /// Due within the window.
    Due,
    /// Past the due date.
    Overdue,
}

impl RotationStatus {
    /// `none`, `ok`, `due` or `overdue` (the API's names).
    pub fn as_str(self) -> &'static str {
        match self {
            RotationStatus::Unscheduled => "none",
            RotationStatus::Ok => "ok",
            RotationStatus::Due => "due",
            RotationStatus::Overdue => "overdue",
        }
    }

    /// Whether a `rotation=due` filter keeps it (due or overdue).
    pub fn needs_rotation(self) -> bool {
        matches!(self, RotationStatus::Due | RotationStatus::Overdue)
    }
}

/// When the next rotation is due: `rotated_at_ms` plus the schedule.
pub fn due_at(rotated_at_ms: i64, rotate_every_days: Option<u32>) -> Option<i64> {
    rotate_every_days.map(|d| rotated_at_ms + i64::from(d) * 86_400_000)
}

/// The status at `now_ms` of a rotation due at `due_ms`.
pub fn status(due_ms: Option<i64>, now_ms: i64) -> RotationStatus {
    match due_ms {
        None => RotationStatus::Unscheduled,
        Some(d) if now_ms > d => RotationStatus::Overdue,
        Some(d) if now_ms > d - DUE_WINDOW_MS => RotationStatus::Due,
        Some(_) => RotationStatus::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    #[test]
    fn given_a_schedule_when_time_passes_then_ok_due_overdue() {
        let due = due_at(0, Some(10));
        assert_eq!(due, Some(10 * DAY));
        assert_eq!(status(due, 2 * DAY), RotationStatus::Ok);
        assert_eq!(status(due, 3 * DAY), RotationStatus::Ok);
        assert_eq!(status(due, 3 * DAY + 1), RotationStatus::Due);
        assert_eq!(status(due, 10 * DAY), RotationStatus::Due);
        assert_eq!(status(due, 10 * DAY + 1), RotationStatus::Overdue);
        assert!(RotationStatus::Overdue.needs_rotation() && RotationStatus::Due.needs_rotation());
        assert!(!RotationStatus::Ok.needs_rotation());
    }

    #[test]
    fn given_no_schedule_then_unscheduled() {
        assert_eq!(due_at(5, None), None);
        assert_eq!(status(None, 0), RotationStatus::Unscheduled);
        assert_eq!(RotationStatus::Unscheduled.as_str(), "none");
    }
}
