package source_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

// A daemon loop: fetch, refuse unsigned or invalid revisions, hand the
// valid set on. Errors from the remote leave the last applied set in force.
func ExampleSource() {
	src, err := source.New(source.Options{
		URL:           "git@github.com:acme/net-specs.git",
		Branch:        "main",
		Path:          "specs",
		VerifyKeyring: "/etc/wirekeeper/trusted.asc",
		Auth: source.AuthOptions{
			SSHKeyFile:     "/etc/wirekeeper/deploy_key",
			KnownHostsFile: "/etc/wirekeeper/known_hosts",
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		rev, err := src.Fetch(ctx)
		cancel()
		switch {
		case errors.Is(err, source.ErrUnreachable), errors.Is(err, source.ErrBranchNotFound):
			fmt.Println("keeping the applied revision:", err)
		case err != nil:
			log.Fatal(err)
		case rev.ForcePushed:
			fmt.Printf("%s replaces %s: history was rewritten\n", rev.Short, rev.Previous)
		}
		if err == nil {
			if err := src.Verify(rev); err != nil {
				fmt.Println("refused:", err)
			} else if set, diags, err := src.Load(context.Background(), rev); err == nil && !diags.HasErrors() {
				fmt.Printf("%s: %d objects to apply\n", rev.Short, len(set.Objects))
			}
		}
		time.Sleep(30 * time.Second)
	}
}
