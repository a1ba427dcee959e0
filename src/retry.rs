//! The one retry policy: which answers are retried, split or dropped, and the backoff schedule.
//! Pure and table-tested. (STUB.)
