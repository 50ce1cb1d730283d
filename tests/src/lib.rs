//! Helpers shared by the integration tests: free ports, fresh data dirs, child daemons.
