//! (shared helpers; filled by the checks that need them)
