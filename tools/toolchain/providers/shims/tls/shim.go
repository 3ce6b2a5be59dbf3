// Package shim exposes the upstream tls provider, whose constructor lives in an
// internal package. This module's path sits under the upstream module's path, so
// Go's internal rule lets it import that package (the same shim Pulumi's
// pulumi-tls keeps in provider/shim).
package shim

import (
	tfpf "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// NewProvider returns the upstream Terraform Plugin Framework provider.
func NewProvider() tfpf.Provider {
	return provider.New()
}
