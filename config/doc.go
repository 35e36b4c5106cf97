// Package config loads the sidecar's YAML configuration.
//
// Loading is strict and happens once: ${VAR} and ${VAR:-default} are
// expanded from the environment (comment lines are left alone; an unset
// variable without a default is an error), the YAML is decoded with unknown
// keys rejected, defaults are applied, relative paths are resolved against
// the config file's folder, and every value is validated. All problems are
// reported together, each naming its key (`sinks[0].path: required`).
//
// The keys, their defaults and meaning are listed in the README's config
// reference and in config.example.yaml.
package config
