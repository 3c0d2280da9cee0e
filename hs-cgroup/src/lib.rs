//! Create a cgroup, set limits, move into it and chain; stats, kill, freeze, rm
