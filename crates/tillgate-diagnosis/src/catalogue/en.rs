//! English titles and remedy steps of the cause catalogue.

use super::Cause::{self, *};

pub(super) fn text(c: Cause) -> (&'static str, &'static [&'static str]) {
    match c {
        ReaderPoweredOff => ("The reader is switched off or has no power", &[
            "Check that the reader is switched on and its screen is lit.",
            "Check the power cable, the charging dock and the socket; try another socket.",
            "Once it has started, wait a minute for it to reconnect.",
        ]),
        LocationNetworkDown => ("The store's network or internet line is down", &[
            "Look at the store's router/modem: are the internet and Wi-Fi lights on?",
            "Restart the router (unplug it for 30 seconds), then wait two minutes.",
            "If the line stays down, call your internet provider; meanwhile a mobile hotspot can keep one till running.",
        ]),
        GatewayHostOffline => ("The computer running the till software is offline", &[
            "Reconnect the POS/gateway computer to the network (cable plugged in, Wi-Fi joined).",
            "Check that it has received an address (IPv4) and that other websites open on it.",
        ]),
        Ipv4Missing => ("The network only hands out IPv6 addresses", &[
            "Payment terminals need IPv4: switch on IPv4/DHCPv4 in the router alongside IPv6.",
            "Restart the reader afterwards so it picks up an IPv4 address.",
        ]),
        NotPrivateAddress => ("The reader has a public address instead of a local one", &[
            "Connect the reader to the store's private network (behind the router), not directly to the modem.",
            "Check the router's DHCP: it should hand out addresses like 192.168.x.x or 10.x.x.x.",
        ]),
        DifferentSubnet => ("The reader and the till are on different networks", &[
            "Put the till and the reader on the same network (same Wi-Fi or same VLAN); guest Wi-Fi is a different network.",
            "Check on the reader's network screen that its address starts like the till's.",
        ]),
        ClientIsolation => ("The Wi-Fi keeps devices apart (client/AP isolation)", &[
            "In the router or access point, disable \"AP isolation\"/\"client isolation\" for the network the reader uses.",
            "Do not use a guest Wi-Fi for readers; it isolates devices on purpose.",
            "Then check that the till can reach the reader (ping its IP address).",
        ]),
        DnsRebindBlocked => ("The network's DNS blocks the local-reader name", &[
            "Set the till's DNS servers to 1.1.1.1 and 1.0.0.1 (Cloudflare) or 8.8.8.8 and 8.8.4.4 (Google).",
            "Or add an exception for stripe-terminal-local-reader.net to the router's DNS rebind protection.",
            "Check: 10-42-42-42.test.device.stripe-terminal-local-reader.net must resolve to 10.42.42.42.",
        ]),
        DnsFailure => ("Names on the internet cannot be looked up (DNS)", &[
            "Check the DNS servers of the till/gateway computer; try 1.1.1.1 or 8.8.8.8.",
            "Restart the router if every device in the store has the problem.",
        ]),
        FirewallBlocksUpstream => ("A firewall or filter blocks the connection to the payment provider", &[
            "Allow outgoing HTTPS (port 443) to the payment provider's hosts in the firewall.",
            "Exempt those hosts from TLS/HTTPS inspection by proxies or security software.",
            "To confirm, try the same computer on a mobile hotspot.",
        ]),
        DhcpAddressChurn => ("The reader keeps getting a new IP address", &[
            "Give the reader a fixed address: a DHCP reservation in the router for its MAC address.",
            "Or raise the DHCP lease time to at least a full business day.",
        ]),
        NetworkSessionLimit => ("The network cuts connections after a fixed time", &[
            "Raise the session/idle time-out of the router, firewall or hotspot to at least a full business day.",
            "Hotel, mall and captive-portal networks often do this; a dedicated line avoids it.",
        ]),
        DualInterface => ("The reader uses Wi-Fi and cable at the same time", &[
            "Use either Wi-Fi or Ethernet, not both: unplug the cable or switch off the reader's Wi-Fi.",
            "A dock without a network cable is fine for charging.",
        ]),
        WifiSignalWeak => ("The reader's Wi-Fi signal is too weak", &[
            "Move the reader closer to the access point, or the access point closer to the counter.",
            "Remove obstacles (metal shelves, fridges, walls) between them.",
            "Where possible, connect the reader with an Ethernet cable instead.",
        ]),
        BluetoothInterference => ("The Bluetooth link to the reader is disturbed", &[
            "Keep the reader close to the phone or tablet it pairs with.",
            "Move away from 2.4 GHz sources such as microwaves and busy Wi-Fi access points.",
            "Charge the reader; a low battery makes the link less stable.",
        ]),
        LinkUnstable => ("The reader's network link loses packets", &[
            "Check the reader's cable and switch port, or its Wi-Fi access point: swap the cable, try another port, move the access point closer.",
            "Look for a device on the same network that floods it (a camera, a backup, a faulty switch) and separate it from the payment network.",
            "If the loss goes on, have the network's installer test the line between the reader and the router.",
        ]),
        NetworkCongestion => ("The store's line is overloaded at busy times", &[
            "Give payment devices their own network or priority (VLAN/QoS) in the router.",
            "Move heavy traffic (guest Wi-Fi, video, backups) away from the payment network or off-peak.",
            "If it keeps happening, upgrade the internet line.",
        ]),
        WifiUnsupported => ("The reader cannot join this Wi-Fi", &[
            "Offer a Wi-Fi 4/5 network (2.4 or 5 GHz, not Wi-Fi 6/802.11ax only) for the readers.",
            "Use WPA2- or WPA3-Personal with a password.",
            "Or connect the reader with an Ethernet cable.",
        ]),
        FirmwareOutdated => ("The reader's software is out of date", &[
            "Update the reader's software: leave it on and connected; updates install during the update window or after a restart.",
            "Restart it once outside business hours to trigger the update.",
        ]),
        ModelUnsupported => ("This reader model is not supported", &[
            "Use a supported reader model for this connection type.",
            "Check the list of supported models before ordering more devices.",
        ]),
        ProtocolMismatch => ("The terminal answers, but not in the expected protocol", &[
            "Switch the terminal to ECR/cash-register mode (e.g. ZVT) in its settings.",
            "Check that the configured port is the terminal's ECR port, not a service or web port.",
        ]),
        WrongPort => ("The configured port on the terminal is wrong", &[
            "Correct the terminal's port in tillgate: ZVT usually uses 20007 or 20008, some vendors 22000 or 5001; Caisse-AP uses 8888.",
            "The terminal's network menu shows which port it listens on.",
        ]),
        WrongAddress => ("The terminal's configured IP address is wrong", &[
            "Read the terminal's current IP address from its network screen and correct it in tillgate.",
            "Then give it a DHCP reservation so the address stays the same.",
        ]),
        TlsMismatch => ("The secure connection to the terminal fails", &[
            "Check the terminal's certificate and TLS settings (name, issuer, validity).",
            "Enable TLS 1.2 or newer on the terminal; older versions are refused.",
        ]),
        ClockSkew => ("The computer's clock is wrong", &[
            "Switch on automatic time (NTP) on the till/gateway computer and the terminal.",
            "Check the time zone too; secure connections fail when the clock is minutes off.",
        ]),
        InvalidApiKey => ("The payment provider refuses the API key", &[
            "Enter a valid secret key for this account in tillgate (test keys and live keys differ).",
            "If the key was rolled or revoked, create a new one in the provider's dashboard.",
        ]),
        ReaderWrongAccount => ("The reader belongs to another account or location", &[
            "Register the reader again with a new registration code, to this account and location.",
            "Check that the location the till uses is the one the reader is registered to.",
        ]),
        TerminalPasswordWrong => ("The terminal refuses the cash-register password", &[
            "Enter the terminal's ECR password (often 000000 or set by the acquirer) in tillgate.",
            "Ask your payment provider for the password if you do not know it.",
        ]),
        TerminalNotActivated => ("The terminal has not been activated yet", &[
            "Run the terminal's activation/initialisation (often in its service menu) with your acquirer's data.",
            "Contact your acquirer if the activation itself fails.",
        ]),
        TerminalBusyStuck => ("The terminal is stuck in an unfinished transaction", &[
            "Cancel the running action from the till.",
            "If that does not help, restart the terminal; then check the last transaction's result before charging again.",
        ]),
        GatewayOutdated => ("The till/gateway software is too old", &[
            "Update tillgate (or the POS software) to the version the provider or terminal requires.",
        ]),
        UpstreamOutage => ("The payment provider has an outage", &[
            "This is not your network: wait for the provider to recover and watch its status page.",
            "Take offline or backup payments meanwhile if your contract allows it.",
        ]),
        UpstreamMaintenance => ("The payment provider or acquirer is in maintenance", &[
            "Wait until the maintenance has finished, then retry.",
            "Check the provider's announcements for the maintenance window.",
        ]),
        HostUnreachableFromTerminal => ("The terminal cannot reach its payment host", &[
            "The terminal works on the store network but has no way out: check its gateway and DNS settings and the firewall.",
            "If its own internet access is fine, contact the acquirer: their host may not accept it.",
        ]),
        Overheating => ("The terminal overheats", &[
            "Move the terminal away from heat: sunlight, lamps, ovens, radiators.",
            "Make sure it has air around it; do not cover or enclose it.",
        ]),
        PowerUnstable => ("The terminal's power supply is unstable", &[
            "Use the original power supply or a different one; replace worn chargers and cables.",
            "Plug the terminal into a socket not shared with heavy appliances.",
        ]),
        BatteryLow => ("The reader's battery is low", &[
            "Charge the reader now, and put it on the dock between sales.",
            "If it drains quickly, the battery may need replacing.",
        ]),
        HardwareFault => ("The terminal reports a hardware fault", &[
            "Restart the terminal once; if the fault remains, have it replaced by your provider.",
        ]),
        OperatorError => ("A recent settings change broke the connection", &[
            "Undo or correct the last change to this terminal's settings; the audit log shows who changed what and when.",
            "Double-check typed IP addresses, ports and passwords.",
        ]),
        CaisseApWrongPort => ("The Caisse-AP port of the terminal is wrong", &[
            "Read the terminal's cash-register (caisse) port in its network or \"connexion caisse\" menu and correct it in the registration code (caisse-ap://HOST:PORT); Caisse-AP terminals listen on 8888 by default.",
            "Check that the address is the payment terminal's and not another device's (a printer, a router, a PC) answering on that port.",
        ]),
        CaisseApNotInCaisseMode => ("The terminal is not in cash-register (caisse) mode", &[
            "On the terminal, switch the cash-register link on: in the manager menu choose \"connexion caisse\" / ECR over IP (Ethernet or Wi-Fi) with the Caisse-AP / Concert V3 protocol.",
            "On Ingenico France terminals the cash-register application is \"CONCERT V3\"; a terminal in standalone mode accepts the connection but never answers.",
            "Restart the terminal after changing the mode, then run the diagnosis again.",
        ]),
        CaisseApProtocolRefused => ("The terminal refuses the Caisse-AP request format or version", &[
            "Set the protocol version the terminal speaks in the registration code: version=0300, 0310 or 0320.",
            "Some terminals want CR/LF after each request and others refuse it: toggle crlf=true in the registration code.",
        ]),
        CaisseApActionUnsupported => ("The terminal does not know an action tillgate sends", &[
            "If the refused action is the identification (CD=I), register the terminal without probe=identify: the TCP probe needs nothing from the terminal.",
            "If it is the cancellation (CD=2), register it with cancel=false; refunds are then sent as credits.",
            "Ask the terminal's vendor to enable the Caisse-AP action on the terminal (or update its cash-register application).",
        ]),
        CaisseApCurrencyUnsupported => ("The terminal does not accept the currency of the payment", &[
            "Register the terminal with the currency it is set up for (currency=eur, currency=xpf or the ISO 4217 number).",
            "If the terminal should accept this currency, ask the acquirer to enable it on the terminal.",
        ]),
    }
}
