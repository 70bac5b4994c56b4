//! `strata-policy`: Placement policies and heat map: pure decision code shared by the server and the simulator.
