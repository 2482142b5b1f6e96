//! RESP2/RESP3 codec (placeholder until implemented).
