"""Models: the teachers (`Teacher`, `LabelTask`, `propose_blocks`), the
label plan, the group-stack generator's and the student's builders, the
`TargetNet`, and the small teacher zoo of the examples and tests."""
