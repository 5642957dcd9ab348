"""What fills the registry: hrmzoo's own plugin module (`builtins`, which imports every built-in
component) and the loader of third-party ones (`plugins`: the `hrmzoo.components` entry points,
`--import`, and a recipe's `imports:`)."""
