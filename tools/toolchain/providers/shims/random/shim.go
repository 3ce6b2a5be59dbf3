// Package shim exposes the upstream random provider, whose constructor lives in an
// internal package. This module's path sits under the upstream module's path, so
// Go's internal rule lets it import that package (the same shim Pulumi's
// pulumi-random keeps in provider/shim).
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/terraform-providers/terraform-provider-random/internal/provider"
)

// NewProvider returns the upstream Terraform Plugin Framework provider.
func NewProvider() tfpf.Provider {
	return provider.New()
}
