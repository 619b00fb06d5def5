//! sluice-replay
