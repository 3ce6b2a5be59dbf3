//go:build tools

// Package tools pins the upstream Pulumi CLI's main package so that `go mod tidy`
// records its whole dependency graph in go.mod/go.sum. build.sh then builds that
// unmodified main package: go build github.com/pulumi/pulumi/pkg/v3/cmd/pulumi.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
