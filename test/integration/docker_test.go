package integration

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/versions"
	"github.com/docker/docker/client"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestDocker(t *testing.T) {
	host := testenv.DockerHost(t)
	image := testenv.DockerImage(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithHost(host),
		client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatalf("docker client for %s: %v", host, err)
	}
	defer cli.Close()
	server, err := cli.ServerVersion(ctx)
	if err != nil {
		t.Fatalf("ServerVersion: %v", err)
	}
	cli.NegotiateAPIVersion(ctx)
	negotiated := cli.ClientVersion()
	if negotiated == "" || versions.GreaterThan(negotiated, server.APIVersion) {
		t.Fatalf("negotiated API version %q, want non-empty and <= server's %q",
			negotiated, server.APIVersion)
	}
	t.Logf("dockerd %s, API %s, negotiated %s", server.Version, server.APIVersion, negotiated)

	created, err := cli.ContainerCreate(ctx,
		&container.Config{Image: image, Cmd: []string{"sleep", "300"}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, testenv.UniqueName(t))
	if err != nil {
		t.Fatalf("ContainerCreate from %s: %v", image, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cli.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true}); err != nil {
			t.Errorf("ContainerRemove %s: %v", created.ID, err)
		}
	})
	if err := cli.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatalf("ContainerStart: %v", err)
	}
	inspect, err := cli.ContainerInspect(ctx, created.ID)
	if err != nil {
		t.Fatalf("ContainerInspect: %v", err)
	}
	if inspect.State == nil || !inspect.State.Running || inspect.State.Pid == 0 {
		t.Fatalf("container state %+v, want running with a pid", inspect.State)
	}

	// NewHandleAt talks to the namespace through its own socket, so this
	// goroutine's thread never changes namespace.
	ns, err := netns.GetFromPid(inspect.State.Pid)
	if err != nil {
		t.Fatalf("netns of pid %d: %v", inspect.State.Pid, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", ns, err)
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		t.Fatalf("LinkList: %v", err)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Attrs().Name)
	}
	if len(names) != 1 || names[0] != "lo" {
		t.Errorf("links in the container's netns = %v, want exactly [lo]", names)
	}
}
