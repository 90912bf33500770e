//! Realtime: the per-user Durable Object and the protocol modules it is a thin shell over.
pub mod hub;
