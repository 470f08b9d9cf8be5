//! Ready-made logger setups.
