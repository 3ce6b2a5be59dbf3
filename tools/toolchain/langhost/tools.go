//go:build tools

// Package tools pins the upstream Node.js language host's main package (inside the
// sdk/v3 module up to v3.68.0) so that `go mod tidy` records its dependency graph.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
