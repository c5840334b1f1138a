// Package deploy_test checks the deployment files: the Kubernetes manifests
// decode strictly into the Kubernetes API types (an unknown or misspelled
// field fails), name only settings wirekeeper has, and give the daemon what
// its providers need; the systemd unit passes systemd-analyze verify.
package deploy_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// settings returns the WIREKEEPER_* variables and config-file keys of
// `wirekeeper run`, read from its --help.
func settings(t *testing.T) (envs, keys map[string]bool) {
	t.Helper()
	out, err := exec.Command("go", "run", "../cmd/wirekeeper", "run", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("wirekeeper run --help: %v\n%s", err, out)
	}
	envs, keys = map[string]bool{}, map[string]bool{}
	line := regexp.MustCompile(`^\s+--\S+.*?\s(WIREKEEPER_[A-Z_]+)(?:, (\w+):)?`)
	for _, l := range strings.Split(string(out), "\n") {
		if m := line.FindStringSubmatch(l); m != nil {
			envs[m[1]] = true
			if m[2] != "" {
				keys[m[2]] = true
			}
		}
	}
	if !envs["WIREKEEPER_REPO"] || !keys["metricsListen"] {
		t.Fatalf("could not read the settings from:\n%s", out)
	}
	return envs, keys
}

// secretEnvs are the variables the example specs name with {env: ...}.
var secretEnvs = map[string]bool{"WIREKEEPER_SKYDIVE_PASSWORD": true, "WIREKEEPER_RABBITMQ_URL": true}

type manifests struct {
	daemonSets  []appsv1.DaemonSet
	deployments []appsv1.Deployment
	configMaps  []corev1.ConfigMap
	secrets     []corev1.Secret
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, _ := filepath.Glob("kubernetes/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in kubernetes/")
	}
	var m manifests
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var doc map[string]any
			if err := d.Decode(&doc); err != nil {
				if err.Error() == "EOF" {
					break
				}
				t.Fatalf("%s document %d: %v", f, i, err)
			}
			raw, _ := yaml.Marshal(doc)
			strict := func(into any) {
				if err := sigsyaml.UnmarshalStrict(raw, into); err != nil {
					t.Errorf("%s document %d (%s): %v", f, i, doc["kind"], err)
				}
			}
			switch doc["kind"] {
			case "DaemonSet":
				var o appsv1.DaemonSet
				strict(&o)
				m.daemonSets = append(m.daemonSets, o)
			case "Deployment":
				var o appsv1.Deployment
				strict(&o)
				m.deployments = append(m.deployments, o)
			case "ConfigMap":
				var o corev1.ConfigMap
				strict(&o)
				m.configMaps = append(m.configMaps, o)
			case "Secret":
				var o corev1.Secret
				strict(&o)
				m.secrets = append(m.secrets, o)
			case "Namespace":
				var o corev1.Namespace
				strict(&o)
			default:
				t.Errorf("%s document %d: unexpected kind %v", f, i, doc["kind"])
			}
		}
	}
	return m
}

func TestKubernetesManifests(t *testing.T) {
	envs, keys := settings(t)
	m := loadManifests(t)
	if len(m.daemonSets) != 1 || len(m.deployments) != 1 || len(m.configMaps) != 1 || len(m.secrets) != 1 {
		t.Fatalf("want one DaemonSet, Deployment, ConfigMap and Secret; got %d %d %d %d", len(m.daemonSets), len(m.deployments), len(m.configMaps), len(m.secrets))
	}
	// The shared config file names only settings wirekeeper has.
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(m.configMaps[0].Data["config.yaml"]), &cfg); err != nil {
		t.Fatal(err)
	}
	for k := range cfg {
		if !keys[k] {
			t.Errorf("config.yaml key %q is not a setting of wirekeeper run", k)
		}
	}
	secretKeys := map[string]bool{}
	for k := range m.secrets[0].StringData {
		secretKeys[k] = true
	}
	pods := map[string]corev1.PodSpec{"DaemonSet": m.daemonSets[0].Spec.Template.Spec, "Deployment": m.deployments[0].Spec.Template.Spec}
	for kind, pod := range pods {
		if len(pod.Containers) != 1 {
			t.Fatalf("%s: %d containers", kind, len(pod.Containers))
		}
		c := pod.Containers[0]
		if !slices.Equal(c.Args[:2], []string{"run", "--config"}) {
			t.Errorf("%s args %v", kind, c.Args)
		}
		for _, e := range c.Env {
			if !envs[e.Name] && !secretEnvs[e.Name] {
				t.Errorf("%s env %s is neither a setting nor a secret the specs name", kind, e.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !secretKeys[e.ValueFrom.SecretKeyRef.Key] {
				t.Errorf("%s env %s refers to a key the Secret lacks", kind, e.Name)
			}
		}
		mounts := map[string]bool{}
		for _, v := range c.VolumeMounts {
			mounts[v.MountPath] = true
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range pod.Volumes {
			volumes[v.Name] = v
		}
		for _, vm := range c.VolumeMounts {
			v, ok := volumes[vm.Name]
			if !ok {
				t.Errorf("%s mounts volume %s, which is not defined", kind, vm.Name)
				continue
			}
			if v.Secret != nil {
				for _, it := range v.Secret.Items {
					if !secretKeys[it.Key] {
						t.Errorf("%s volume %s names Secret key %s, which the example lacks", kind, v.Name, it.Key)
					}
				}
			}
		}
		// Every file the config names is mounted.
		for _, k := range []string{"sshKeyFile", "knownHostsFile", "webhookSecretFile", "verifySignatures"} {
			if p, ok := cfg[k].(string); ok && !mounts[filepath.Dir(p)] {
				t.Errorf("%s: %s %s is not under a mounted directory", kind, k, p)
			}
		}
		if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s probes %+v %+v", kind, c.LivenessProbe, c.ReadinessProbe)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: the root file system must be read-only and every capability dropped first", kind)
		}
	}
	// The per-node daemon: host network, sockets, node name, capabilities.
	ds := pods["DaemonSet"]
	c := ds.Containers[0]
	if !ds.HostNetwork {
		t.Error("the DaemonSet must use the host network")
	}
	var node *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "WIREKEEPER_NODE" {
			node = &c.Env[i]
		}
	}
	if node == nil || node.ValueFrom == nil || node.ValueFrom.FieldRef == nil || node.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("WIREKEEPER_NODE must come from the downward API's spec.nodeName: %+v", node)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, v := range c.VolumeMounts {
		mounts[v.MountPath] = v
	}
	for _, p := range []string{"/var/run/openvswitch", "/var/run/docker.sock", "/var/run/docker/netns", "/var/cache/wirekeeper"} {
		if _, ok := mounts[p]; !ok {
			t.Errorf("the DaemonSet does not mount %s", p)
		}
	}
	if p := mounts["/var/run/docker/netns"].MountPropagation; p == nil || *p != corev1.MountPropagationHostToContainer {
		t.Error("Docker's netns directory needs HostToContainer propagation, or namespaces made later are not seen")
	}
	if add := c.SecurityContext.Capabilities.Add; !slices.Contains(add, "NET_ADMIN") || !slices.Contains(add, "SYS_ADMIN") || len(add) != 2 {
		t.Errorf("the DaemonSet adds capabilities %v, want NET_ADMIN and SYS_ADMIN only", add)
	}
	// The central instance: one replica, never two at once, no host access.
	dep := m.deployments[0]
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 || dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Error("the central Deployment must run one replica with the Recreate strategy")
	}
	if dep.Spec.Template.Spec.HostNetwork || len(dep.Spec.Template.Spec.Containers[0].SecurityContext.Capabilities.Add) != 0 {
		t.Error("the central Deployment needs neither the host network nor capabilities")
	}
}

func TestSystemdUnit(t *testing.T) {
	envs, _ := settings(t)
	unit, err := os.ReadFile("systemd/wirekeeper.service")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"ExecStart": "/usr/local/bin/wirekeeper run", "EnvironmentFile": "/etc/wirekeeper/wirekeeper.env",
		"ProtectSystem": "strict", "NoNewPrivileges": "yes", "Restart": "always", "CacheDirectory": "wirekeeper",
		"CapabilityBoundingSet": "CAP_NET_ADMIN CAP_SYS_ADMIN CAP_SYS_PTRACE",
	}
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			got[k] = v
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	// The example settings are all real ones.
	env, err := os.ReadFile("systemd/wirekeeper.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(env), "\n") {
		l = strings.TrimPrefix(strings.TrimSpace(l), "# ")
		if k, _, ok := strings.Cut(l, "="); ok && strings.HasPrefix(k, "WIREKEEPER_") && !envs[k] && !secretEnvs[k] {
			t.Errorf("wirekeeper.env.example sets %s, which is not a setting", k)
		}
	}
	// systemd's own check, with the paths it looks at made real.
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("WIREKEEPER_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("systemd-analyze is missing (apt install systemd)")
		}
		t.Skip("systemd-analyze is missing")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "wirekeeper")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/wirekeeper").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	envFile := filepath.Join(dir, "wirekeeper.env")
	os.WriteFile(envFile, env, 0o600)
	local := strings.NewReplacer("/usr/local/bin/wirekeeper", bin, "/etc/wirekeeper/wirekeeper.env", envFile).Replace(string(unit))
	path := filepath.Join(dir, "wirekeeper.service")
	os.WriteFile(path, []byte(local), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Without a running systemd, verify still checks the unit; lines about
	// the units it names in After= and the missing bus are not ours.
	var problems []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && strings.Contains(l, "wirekeeper.service") {
			problems = append(problems, l)
		}
	}
	if len(problems) > 0 {
		t.Errorf("systemd-analyze verify (%v):\n%s", err, strings.Join(problems, "\n"))
	}
}
