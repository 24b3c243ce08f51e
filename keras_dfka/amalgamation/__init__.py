"""The one-call path from teachers to a TargetNet: `amalgamate`, its
`AmalgamationConfig` and presets, the schedules, and run checkpoints."""
