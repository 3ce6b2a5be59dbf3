// Added by backend-infra's toolchain (tools/toolchain/build.sh) to a build-time copy of
// github.com/pulumi/terraform-plugin-sdk/v2 (Pulumi's fork of the SDKv2, the version that
// pulumi-terraform-bridge v3.120.0 pins). The upstream docker provider needs
// terraform-plugin-go v0.31, whose tfprotov5.ResourceServer gained GenerateResourceConfig
// (Terraform 1.14's `terraform query` config generation). The fork predates it. Pulumi's
// bridge never calls this RPC; the method only makes the server satisfy the interface.

package schema

import (
	"context"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

func (s *GRPCProviderServer) GenerateResourceConfig(_ context.Context, req *tfprotov5.GenerateResourceConfigRequest) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{
		Diagnostics: []*tfprotov5.Diagnostic{{
			Severity: tfprotov5.DiagnosticSeverityError,
			Summary:  "GenerateResourceConfig is not supported",
			Detail:   "This build of the SDKv2 (Pulumi's fork, patched by backend-infra's toolchain) does not generate configuration for " + req.TypeName + ".",
		}},
	}, nil
}
