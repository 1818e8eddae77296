// Command auditfn runs one function as its own process, exactly as the func
// scaffolding's main does: fhttp.Start(function.New()). AUDITFN_FUNCTION
// picks the function and LISTEN_ADDRESS its address.
//
// `auditfn verify-bundle -key PUBLIC.pem BUNDLE` checks an export bundle
// instead (docs/integrity.md §8).
package main

import (
	"fmt"
	"os"

	fhttp "knative.dev/func-go/http"

	"function"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "verify-bundle" {
		os.Exit(verifyBundle(os.Args[2:]))
	}
	fhttp.SetLogLevel(fhttp.LogInfo)
	if err := fhttp.Start(function.New()); err != nil {
		fmt.Fprintln(os.Stderr, "auditfn:", err)
		os.Exit(1)
	}
}
