//! Native load generator (placeholder until implemented).
