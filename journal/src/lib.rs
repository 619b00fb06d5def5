//! sluice-journal
