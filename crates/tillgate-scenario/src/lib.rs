//! The simulated world: scenario files, accelerated simulation of readers and links, scoring.
