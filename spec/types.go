package spec

import "slices"

// The field tags below are the single source of the shape rules: the decoder
// enforces them and internal/schemagen turns them into the JSON Schemas under
// schemas/. The `wk` tag grammar is documented in rules.go. Doc comments on
// fields become schema descriptions, so they are written for spec authors.

// APIVersion is the only apiVersion this build understands.
const APIVersion = "wirekeeper.io/v1alpha1"

// Metadata names an object and carries free-form labels and annotations.
type Metadata struct {
	// Name of the object, unique per kind across the tree: a lowercase DNS label (1..63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit).
	Name string `json:"name" wk:"required,format=dnslabel"`
	// Labels are free-form key/value pairs for grouping and selection.
	Labels map[string]string `json:"labels,omitempty" wk:"keyformat=labelkey"`
	// Annotations are free-form key/value pairs; wirekeeper.io/suspend: "true" pauses reconciliation of this object.
	Annotations map[string]string `json:"annotations,omitempty" wk:"keyformat=labelkey"`
}

// Policy says what the reconciler does about drift.
type Policy string

// The policies. Enforce repairs drift; Observe only reports it.
const (
	PolicyEnforce Policy = "enforce"
	PolicyObserve Policy = "observe"
)

// TLS names PEM files in the daemon's secrets directory.
type TLS struct {
	// CA certificate bundle (PEM) used to verify the peer: a file name inside the daemon's secrets directory, such as tls/ca.pem.
	CAFile string `json:"caFile,omitempty" wk:"format=secretfile"`
	// Client certificate (PEM): a file name inside the daemon's secrets directory.
	CertFile string `json:"certFile,omitempty" wk:"format=secretfile"`
	// Private key of the client certificate (PEM): a file name inside the daemon's secrets directory.
	KeyFile string `json:"keyFile,omitempty" wk:"format=secretfile"`
}

// Secret is a reference to a value kept outside the repository: an
// environment variable of the daemon or a file in its secrets directory. A
// literal value is refused by the validator.
type Secret struct {
	// Name of an environment variable of the wirekeeper daemon holding the value; it must start with WIREKEEPER_SECRET_.
	Env string `json:"env,omitempty" wk:"format=secretenv"`
	// Name of a file inside the daemon's secrets directory holding the value (trailing newline ignored), such as rabbitmq-url.
	File string `json:"file,omitempty" wk:"format=secretfile"`
}

// OVSManagerSpec is an OVSDB server that one daemon connects to.
type OVSManagerSpec struct {
	// Node name of the wirekeeper daemon that connects to this manager.
	Node string `json:"node" wk:"placement,required,format=nodename"`
	// OVSDB connection method: unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT (IPv6 hosts in brackets).
	Address string `json:"address" wk:"required,format=ovsdbaddress"`
	// Certificates for an ssl: address; required for ssl:, refused otherwise.
	TLS *TLS `json:"tls,omitempty"`
	// OVSDB database name.
	Database string `json:"database,omitempty" wk:"default=Open_vSwitch,format=nonempty"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// BridgeSpec is an OVS bridge on one manager.
type BridgeSpec struct {
	// metadata.name of the OVSManager that holds this bridge.
	Manager string `json:"manager" wk:"placement,required,format=dnslabel"`
	// OVS bridge name; defaults to metadata.name. A Linux interface name (at most 15 bytes, no '/', ':' or whitespace).
	Bridge string `json:"bridge,omitempty" wk:"format=ifname"`
	// Datapath type of the bridge.
	DatapathType string `json:"datapathType,omitempty" wk:"enum=system|netdev,default=system"`
	// Fail mode of the bridge; unset leaves OVS's default (standalone).
	FailMode string `json:"failMode,omitempty" wk:"enum=standalone|secure"`
	// Keys merged into Bridge.external_ids; keys set by others are never removed. Keys under wirekeeper.io/ are reserved.
	ExternalIDs map[string]string `json:"externalIds,omitempty"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// MirrorSpec is an OVS port mirror on one bridge.
type MirrorSpec struct {
	// metadata.name of the OVSManager that holds the bridge.
	Manager string `json:"manager" wk:"placement,required,format=dnslabel"`
	// OVS name of the bridge the mirror belongs to (the bridge need not be declared as a Bridge).
	Bridge string `json:"bridge" wk:"required,format=ifname"`
	// OVS Mirror.name; defaults to metadata.name.
	MirrorName string `json:"mirrorName,omitempty" wk:"format=nonempty"`
	// Mirror every packet on the bridge (OVS select_all).
	SelectAll bool `json:"selectAll,omitempty"`
	// Port names whose received packets are mirrored (OVS select_src_port).
	SelectSrcPorts []string `json:"selectSrcPorts,omitempty" wk:"unique,format=nonempty"`
	// Port names whose transmitted packets are mirrored (OVS select_dst_port).
	SelectDstPorts []string `json:"selectDstPorts,omitempty" wk:"unique,format=nonempty"`
	// ContainerPorts (by metadata.name) whose received packets are mirrored: the OVS port of each, named by wirekeeper, joins select_src_port. Each must be on this mirror's manager and bridge.
	SelectSrcContainerPorts []string `json:"selectSrcContainerPorts,omitempty" wk:"unique,format=dnslabel"`
	// ContainerPorts (by metadata.name) whose transmitted packets are mirrored (OVS select_dst_port). Each must be on this mirror's manager and bridge.
	SelectDstContainerPorts []string `json:"selectDstContainerPorts,omitempty" wk:"unique,format=dnslabel"`
	// VLANs whose packets are mirrored (OVS select_vlan), 0..4095.
	SelectVLANs []int `json:"selectVlans,omitempty" wk:"unique,min=0,max=4095"`
	// Where mirrored packets go: exactly one of port, containerPort or vlan.
	Output *MirrorOutput `json:"output" wk:"required,exactlyone=port|containerPort|vlan"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// ContainerPorts lists the metadata.name of every ContainerPort the mirror
// selects or outputs to, each once, in the order the spec names them.
func (m *MirrorSpec) ContainerPorts() []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, n := range m.SelectSrcContainerPorts {
		add(n)
	}
	for _, n := range m.SelectDstContainerPorts {
		add(n)
	}
	if m.Output != nil {
		add(m.Output.ContainerPort)
	}
	return out
}

// MirrorOutput is the destination of a mirror.
type MirrorOutput struct {
	// Name of the port mirrored packets are sent to (OVS output_port).
	Port string `json:"port,omitempty" wk:"format=nonempty"`
	// metadata.name of the ContainerPort mirrored packets are sent to: its OVS port, named by wirekeeper, becomes output_port. It must be on this mirror's manager and bridge.
	ContainerPort string `json:"containerPort,omitempty" wk:"format=dnslabel"`
	// VLAN mirrored packets are flooded on (OVS output_vlan), 1..4095.
	VLAN *int `json:"vlan,omitempty" wk:"min=1,max=4095"`
}

// ContainerPortSpec plugs a container into an OVS bridge through a veth pair,
// in the layout of Open vSwitch's ovs-docker script.
type ContainerPortSpec struct {
	// Node name of the wirekeeper daemon whose Docker engine runs the container.
	Node string `json:"node" wk:"placement,required,format=nodename"`
	// metadata.name of the OVSManager; optional when exactly one OVSManager has this node.
	Manager string `json:"manager,omitempty" wk:"placement,format=dnslabel"`
	// OVS bridge the host end of the veth pair is added to.
	Bridge string `json:"bridge" wk:"required,format=ifname"`
	// Docker container name or ID.
	Container string `json:"container" wk:"required,format=containerref"`
	// Interface name inside the container (at most 15 bytes, no '/', ':' or whitespace).
	Interface string `json:"interface" wk:"required,format=ifname"`
	// Addresses of the interface in CIDR notation, IPv4 or IPv6.
	Addresses []string `json:"addresses,omitempty" wk:"unique,format=cidr"`
	// Default gateway, IPv4 or IPv6; must fall in the subnet of one of the addresses. The other family's default route, for a dual-stack port, goes in routes (to: 0.0.0.0/0 or ::/0).
	Gateway string `json:"gateway,omitempty" wk:"format=ip"`
	// Static routes through the interface, at most 64, one per destination; to: 0.0.0.0/0 or ::/0 is the default route of that family (at most one per family, gateway counting as one). Routes through the interface that are not listed here are removed under policy enforce.
	Routes []ContainerRoute `json:"routes,omitempty" wk:"unique,maxitems=64"`
	// Unicast MAC address of the interface (aa:bb:cc:dd:ee:ff).
	MACAddress string `json:"macAddress,omitempty" wk:"format=mac"`
	// MTU of the interface, 68..65535 (at least 1280 with IPv6 addresses).
	MTU *int `json:"mtu,omitempty" wk:"min=68,max=65535"`
	// VLAN tag of the OVS port (Port.tag), 0..4095; unset makes a trunk port.
	VLAN *int `json:"vlan,omitempty" wk:"min=0,max=4095"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// ContainerRoute is a static route through a ContainerPort's interface.
type ContainerRoute struct {
	// Destination network in CIDR notation with no host bits set, e.g. 10.20.0.0/16 or 2001:db8:20::/48; 0.0.0.0/0 or ::/0 for a default route.
	To string `json:"to" wk:"required,format=routeto"`
	// Next hop, of the destination's family, in the subnet of one of the port's addresses (not one of them).
	Via string `json:"via" wk:"required,format=ip"`
}

// CollectorTargetSpec pulls ESnet Netbeam telemetry into RabbitMQ, keeping an
// interface inventory in MySQL, in the message and table layout of the
// SAND-CI ESnet collector.
type CollectorTargetSpec struct {
	// Node name of the wirekeeper daemon that runs this collector.
	Node string `json:"node" wk:"placement,required,format=nodename"`
	// The Netbeam API to pull from.
	Netbeam *Netbeam `json:"netbeam" wk:"required"`
	// How often interfaces are discovered and collected (Go duration, at least 5s).
	Interval Duration `json:"interval,omitempty" wk:"default=60s,mindur=5s"`
	// How far behind now collection stops, so Netbeam has settled the data (Go duration).
	Lag Duration `json:"lag,omitempty" wk:"default=15m,mindur=0s"`
	// How far back a newly seen interface starts being collected (Go duration).
	Backfill Duration `json:"backfill,omitempty" wk:"default=2m,mindur=0s"`
	// Longest time range asked of Netbeam in one request (Go duration, at least 1m).
	SliceMax Duration `json:"sliceMax,omitempty" wk:"default=48h,mindur=1m"`
	// Where messages are published.
	RabbitMQ *RabbitMQ `json:"rabbitmq" wk:"required"`
	// Where the interface inventory and collection watermarks are kept.
	Inventory *Inventory `json:"inventory" wk:"required"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// Netbeam selects what is pulled from a Netbeam API.
type Netbeam struct {
	// Base URL of the API (https), e.g. https://esnet-netbeam.appspot.com.
	URL string `json:"url" wk:"required,format=httpsurl"`
	// Network path in the API.
	Network string `json:"network,omitempty" wk:"default=esnet/prod,format=urlpath"`
	// Which interfaces are collected, by glob on their resource.
	Interfaces *InterfaceFilter `json:"interfaces,omitempty"`
	// Metrics collected per interface.
	Metrics []string `json:"metrics,omitempty" wk:"unique,enum=traffic|errors|discards,default=traffic|errors|discards"`
}

// InterfaceFilter selects interfaces by glob patterns on their resource
// (for example devices/*/interfaces/*); '*' does not cross '/'.
type InterfaceFilter struct {
	// Resources matching any of these globs are collected; empty means all.
	Include []string `json:"include,omitempty" wk:"format=glob"`
	// Resources matching any of these globs are skipped, even when included.
	Exclude []string `json:"exclude,omitempty" wk:"format=glob"`
}

// RabbitMQ is the broker messages are published to.
type RabbitMQ struct {
	// AMQP URL (amqp:// or amqps://), a secret: {env: WIREKEEPER_SECRET_NAME} or {file: NAME}.
	URL *Secret `json:"url" wk:"required"`
	// Certificates for amqps:// (the system roots and no client certificate
	// without them).
	TLS *TLS `json:"tls,omitempty"`
	// Exchange messages are published to.
	Exchange string `json:"exchange" wk:"required,format=nonempty"`
	// Type the exchange is declared with when it does not exist yet; an existing exchange is used as it is (checked passively, so a write-only account publishes).
	ExchangeType string `json:"exchangeType,omitempty" wk:"enum=direct|fanout|topic|headers,default=topic"`
	// Routing key of interface messages.
	InterfacesRoutingKey string `json:"interfacesRoutingKey,omitempty" wk:"default=esnet_interfaces,format=nonempty"`
	// Routing key of traffic, errors and discards messages.
	StatsRoutingKey string `json:"statsRoutingKey,omitempty" wk:"default=esnet_traffic,format=nonempty"`
	// Queues whose depth is watched for backpressure.
	WatchQueues []string `json:"watchQueues,omitempty" wk:"unique,format=nonempty"`
	// Publishing pauses while any watched queue holds more messages than this.
	MaxQueueDepth int `json:"maxQueueDepth,omitempty" wk:"default=50000,min=1"`
	// Let the broker drop messages that no queue is bound to receive, as
	// the ESnet collector did: they count as delivered and the watermark
	// moves past them. When false (the default), such messages are not
	// delivered: the watermark stays, the target is Degraded ("no queue
	// bound to exchange X for routing key Y"), and the held-back points
	// are published once a queue is bound.
	AllowUnroutable bool `json:"allowUnroutable,omitempty"`
}

// Inventory is where the interface inventory is kept.
type Inventory struct {
	// MySQL or MariaDB inventory.
	MySQL *MySQLInventory `json:"mysql" wk:"required"`
}

// MySQLInventory is an inventory table in MySQL or MariaDB.
type MySQLInventory struct {
	// go-sql-driver DSN (user:password@tcp(host:3306)/db), a secret: {env: WIREKEEPER_SECRET_NAME} or {file: NAME}.
	DSN *Secret `json:"dsn" wk:"required"`
	// Inventory table, created when missing.
	Table string `json:"table,omitempty" wk:"default=esnet_interfaces,format=sqlident"`
	// Certificates for a TLS connection to the server; without them the
	// DSN's own tls parameter applies.
	TLS *TLS `json:"tls,omitempty"`
}

// SkyDiveExportSpec publishes the node's live topology to a SkyDive analyzer.
type SkyDiveExportSpec struct {
	// Node name of the daemon that publishes; absent means every daemon publishes its own view.
	Node string `json:"node,omitempty" wk:"placement,format=nodename"`
	// Analyzer as host:port, or a ws:// or wss:// URL.
	Analyzer string `json:"analyzer" wk:"required,format=analyzer"`
	// Certificates for wss:// (or host:port with TLS); refused with ws://.
	TLS *TLS `json:"tls,omitempty"`
	// Credentials for the analyzer.
	Auth *SkyDiveAuth `json:"auth,omitempty"`
	// What the analyzer does with this node's graph when the daemon disconnects.
	Persistence string `json:"persistence,omitempty" wk:"enum=DeleteOnDisconnect|Persistent,default=DeleteOnDisconnect"`
	// X-Client-Type announced to the analyzer.
	ClientType string `json:"clientType,omitempty" wk:"default=wirekeeper,format=nonempty"`
	// How often what the analyzer holds for this node is read back (REST)
	// and compared with the published graph.
	VerifyInterval Duration `json:"verifyInterval,omitempty" wk:"default=5m,mindur=1s"`
	// Parts of the topology published.
	Include []string `json:"include,omitempty" wk:"unique,enum=bridges|ports|interfaces|mirrors|containers|collectors,default=bridges|ports|interfaces|mirrors|containers|collectors"`
	// What to do about drift: enforce repairs it, observe only reports it.
	Policy Policy `json:"policy,omitempty" wk:"placement,enum=enforce|observe,default=enforce"`
}

// SkyDiveAuth are the analyzer's basic-auth credentials.
type SkyDiveAuth struct {
	// User name.
	Username string `json:"username" wk:"required,format=nonempty"`
	// Password, a secret: {env: WIREKEEPER_SECRET_NAME} or {file: NAME}.
	Password *Secret `json:"password" wk:"required"`
	// How the credentials are presented: basic sends them on every request
	// (Authorization: Basic); login posts them once to /login and presents
	// the authtoken cookie it returns, as SkyDive's own clients do.
	Method string `json:"method,omitempty" wk:"enum=basic|login,default=basic"`
}
