// Package shim exposes the upstream (kreuzwerker) Docker provider, whose
// constructor lives in an internal package. This module's path sits under the
// upstream module's path, so Go's internal rule lets it import that package.
// Pulumi's pulumi-docker keeps the same few lines in its upstream submodule.
package shim

import (
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	"github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// NewProvider returns the upstream SDKv2 provider at the given version.
func NewProvider(version string) *schema.Provider {
	return provider.New(version)()
}
