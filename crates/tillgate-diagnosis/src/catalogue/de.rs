//! German titles and remedy steps of the cause catalogue.

use super::Cause::{self, *};

pub(super) fn text(c: Cause) -> (&'static str, &'static [&'static str]) {
    match c {
        ReaderPoweredOff => ("Das Kartenterminal ist ausgeschaltet oder ohne Strom", &[
            "Prüfen Sie, ob das Terminal eingeschaltet ist und das Display leuchtet.",
            "Kontrollieren Sie Netzkabel, Ladestation und Steckdose; versuchen Sie eine andere Steckdose.",
            "Nach dem Einschalten etwa eine Minute warten, bis es sich wieder verbindet.",
        ]),
        LocationNetworkDown => ("Das Netzwerk oder die Internetleitung der Filiale ist ausgefallen", &[
            "Schauen Sie auf Router/Modem der Filiale: Leuchten die Anzeigen für Internet und WLAN?",
            "Starten Sie den Router neu (30 Sekunden vom Strom trennen) und warten Sie zwei Minuten.",
            "Bleibt die Leitung tot, rufen Sie Ihren Internetanbieter an; bis dahin kann ein mobiler Hotspot eine Kasse versorgen.",
        ]),
        GatewayHostOffline => ("Der Rechner mit der Kassensoftware ist offline", &[
            "Verbinden Sie den Kassen-/Gateway-Rechner wieder mit dem Netzwerk (Kabel eingesteckt, WLAN verbunden).",
            "Prüfen Sie, ob er eine IPv4-Adresse bekommen hat und andere Webseiten öffnen kann.",
        ]),
        Ipv4Missing => ("Das Netzwerk vergibt nur IPv6-Adressen", &[
            "Kartenterminals brauchen IPv4: Aktivieren Sie im Router IPv4/DHCPv4 zusätzlich zu IPv6.",
            "Starten Sie danach das Terminal neu, damit es eine IPv4-Adresse bezieht.",
        ]),
        NotPrivateAddress => ("Das Terminal hat eine öffentliche statt einer lokalen Adresse", &[
            "Schließen Sie das Terminal an das private Filialnetz hinter dem Router an, nicht direkt ans Modem.",
            "Prüfen Sie den DHCP-Server des Routers: Er sollte Adressen wie 192.168.x.x oder 10.x.x.x vergeben.",
        ]),
        DifferentSubnet => ("Terminal und Kasse sind in verschiedenen Netzen", &[
            "Bringen Sie Kasse und Terminal ins selbe Netz (gleiches WLAN bzw. gleiches VLAN); ein Gäste-WLAN ist ein anderes Netz.",
            "Vergleichen Sie im Netzwerkmenü des Terminals, ob seine Adresse wie die der Kasse beginnt.",
        ]),
        ClientIsolation => ("Das WLAN schirmt die Geräte voneinander ab (Client-Isolation)", &[
            "Deaktivieren Sie im Router bzw. Access Point die „AP-Isolation“/„Client-Isolation“ für das Netz des Terminals.",
            "Verwenden Sie für Terminals kein Gäste-WLAN – das trennt Geräte absichtlich.",
            "Prüfen Sie danach, ob die Kasse das Terminal erreicht (Ping auf seine IP-Adresse).",
        ]),
        DnsRebindBlocked => ("Der DNS des Netzwerks blockiert den Namen für lokale Lesegeräte", &[
            "Stellen Sie an der Kasse die DNS-Server 1.1.1.1 und 1.0.0.1 (Cloudflare) oder 8.8.8.8 und 8.8.4.4 (Google) ein.",
            "Oder tragen Sie im Router bei der DNS-Rebind-Schutz-Funktion eine Ausnahme für stripe-terminal-local-reader.net ein.",
            "Test: 10-42-42-42.test.device.stripe-terminal-local-reader.net muss zu 10.42.42.42 aufgelöst werden.",
        ]),
        DnsFailure => ("Internet-Namen können nicht aufgelöst werden (DNS)", &[
            "Prüfen Sie die DNS-Server des Kassen-/Gateway-Rechners; versuchen Sie 1.1.1.1 oder 8.8.8.8.",
            "Haben alle Geräte der Filiale das Problem, starten Sie den Router neu.",
        ]),
        FirewallBlocksUpstream => ("Eine Firewall oder ein Filter sperrt die Verbindung zum Zahlungsanbieter", &[
            "Erlauben Sie in der Firewall ausgehendes HTTPS (Port 443) zu den Servern des Zahlungsanbieters.",
            "Nehmen Sie diese Server von der TLS-/HTTPS-Prüfung durch Proxys oder Sicherheitssoftware aus.",
            "Zur Bestätigung: denselben Rechner kurz über einen mobilen Hotspot verbinden.",
        ]),
        DhcpAddressChurn => ("Das Terminal bekommt ständig eine neue IP-Adresse", &[
            "Geben Sie dem Terminal eine feste Adresse: eine DHCP-Reservierung im Router für seine MAC-Adresse.",
            "Oder verlängern Sie die DHCP-Lease-Zeit auf mindestens einen ganzen Geschäftstag.",
        ]),
        NetworkSessionLimit => ("Das Netzwerk trennt Verbindungen nach fester Zeit", &[
            "Erhöhen Sie das Sitzungs-/Leerlauf-Limit von Router, Firewall oder Hotspot auf mindestens einen Geschäftstag.",
            "Hotel-, Einkaufszentrums- und Captive-Portal-Netze tun das oft; eine eigene Leitung vermeidet es.",
        ]),
        DualInterface => ("Das Terminal nutzt WLAN und Kabel gleichzeitig", &[
            "Nutzen Sie entweder WLAN oder Ethernet, nicht beides: Kabel abziehen oder WLAN des Terminals ausschalten.",
            "Eine Ladestation ohne Netzwerkkabel ist zum Laden in Ordnung.",
        ]),
        WifiSignalWeak => ("Das WLAN-Signal am Terminal ist zu schwach", &[
            "Stellen Sie das Terminal näher an den Access Point oder den Access Point näher an die Kasse.",
            "Entfernen Sie Hindernisse (Metallregale, Kühlschränke, Wände) zwischen beiden.",
            "Wo möglich, schließen Sie das Terminal per Netzwerkkabel an.",
        ]),
        BluetoothInterference => ("Die Bluetooth-Verbindung zum Lesegerät wird gestört", &[
            "Halten Sie das Lesegerät nah an dem Smartphone oder Tablet, mit dem es gekoppelt ist.",
            "Meiden Sie 2,4-GHz-Störquellen wie Mikrowellen und stark genutzte WLAN-Access-Points.",
            "Laden Sie das Lesegerät; ein schwacher Akku macht die Verbindung instabiler.",
        ]),
        LinkUnstable => ("Die Netzwerkverbindung des Lesegeräts verliert Pakete", &[
            "Prüfen Sie Kabel und Switch-Port des Lesegeräts oder seinen WLAN-Zugangspunkt: Kabel tauschen, anderen Port testen, Zugangspunkt näher aufstellen.",
            "Suchen Sie ein Gerät im selben Netz, das es überflutet (Kamera, Datensicherung, defekter Switch), und trennen Sie es vom Zahlungsnetz.",
            "Hält der Verlust an, lassen Sie die Leitung zwischen Lesegerät und Router vom Netzwerk-Installateur prüfen.",
        ]),
        NetworkCongestion => ("Die Leitung der Filiale ist zu Stoßzeiten überlastet", &[
            "Geben Sie den Zahlungsgeräten ein eigenes Netz oder Vorrang (VLAN/QoS) im Router.",
            "Verlagern Sie großen Datenverkehr (Gäste-WLAN, Video, Backups) weg vom Zahlungsnetz oder außerhalb der Stoßzeiten.",
            "Passiert es weiterhin, buchen Sie eine schnellere Internetleitung.",
        ]),
        WifiUnsupported => ("Das Terminal kann diesem WLAN nicht beitreten", &[
            "Bieten Sie für die Terminals ein WLAN nach Wi-Fi 4/5 an (2,4 oder 5 GHz, nicht nur Wi-Fi 6/802.11ax).",
            "Verwenden Sie WPA2- oder WPA3-Personal mit Passwort.",
            "Oder schließen Sie das Terminal per Netzwerkkabel an.",
        ]),
        FirmwareOutdated => ("Die Software des Terminals ist veraltet", &[
            "Aktualisieren Sie die Terminal-Software: Gerät eingeschaltet und verbunden lassen; Updates werden im Update-Fenster oder nach einem Neustart installiert.",
            "Starten Sie es einmal außerhalb der Öffnungszeiten neu, um das Update auszulösen.",
        ]),
        ModelUnsupported => ("Dieses Terminalmodell wird nicht unterstützt", &[
            "Verwenden Sie ein für diese Anbindung unterstütztes Terminalmodell.",
            "Prüfen Sie die Liste der unterstützten Modelle, bevor Sie weitere Geräte bestellen.",
        ]),
        ProtocolMismatch => ("Das Terminal antwortet, aber nicht im erwarteten Protokoll", &[
            "Stellen Sie das Terminal in seinen Einstellungen auf Kassenbetrieb (ECR, z. B. ZVT) um.",
            "Prüfen Sie, ob der eingetragene Port der Kassen-Port des Terminals ist und kein Service- oder Web-Port.",
        ]),
        WrongPort => ("Der eingetragene Port des Terminals ist falsch", &[
            "Korrigieren Sie den Port in tillgate: ZVT nutzt meist 20007 oder 20008, manche Hersteller 22000 oder 5001; Caisse-AP 8888.",
            "Im Netzwerkmenü des Terminals steht, auf welchem Port es lauscht.",
        ]),
        WrongAddress => ("Die eingetragene IP-Adresse des Terminals ist falsch", &[
            "Lesen Sie die aktuelle IP-Adresse im Netzwerkmenü des Terminals ab und korrigieren Sie sie in tillgate.",
            "Richten Sie danach eine DHCP-Reservierung ein, damit die Adresse gleich bleibt.",
        ]),
        TlsMismatch => ("Die gesicherte Verbindung zum Terminal schlägt fehl", &[
            "Prüfen Sie Zertifikat und TLS-Einstellungen des Terminals (Name, Aussteller, Gültigkeit).",
            "Aktivieren Sie TLS 1.2 oder neuer auf dem Terminal; ältere Versionen werden abgelehnt.",
        ]),
        ClockSkew => ("Die Uhr des Rechners geht falsch", &[
            "Schalten Sie die automatische Zeit (NTP) am Kassen-/Gateway-Rechner und am Terminal ein.",
            "Prüfen Sie auch die Zeitzone; gesicherte Verbindungen scheitern, wenn die Uhr Minuten abweicht.",
        ]),
        InvalidApiKey => ("Der Zahlungsanbieter lehnt den API-Schlüssel ab", &[
            "Tragen Sie in tillgate einen gültigen geheimen Schlüssel dieses Kontos ein (Test- und Live-Schlüssel unterscheiden sich).",
            "Wurde der Schlüssel erneuert oder widerrufen, erstellen Sie im Dashboard des Anbieters einen neuen.",
        ]),
        ReaderWrongAccount => ("Das Terminal gehört zu einem anderen Konto oder Standort", &[
            "Registrieren Sie das Terminal mit einem neuen Registrierungscode erneut für dieses Konto und diesen Standort.",
            "Prüfen Sie, ob die Kasse denselben Standort verwendet, auf den das Terminal registriert ist.",
        ]),
        TerminalPasswordWrong => ("Das Terminal lehnt das Kassenpasswort ab", &[
            "Tragen Sie das ECR-Passwort des Terminals (oft 000000 oder vom Netzbetreiber vergeben) in tillgate ein.",
            "Fragen Sie Ihren Zahlungsdienstleister nach dem Passwort, wenn Sie es nicht kennen.",
        ]),
        TerminalNotActivated => ("Das Terminal ist noch nicht aktiviert", &[
            "Führen Sie die Inbetriebnahme/Initialisierung des Terminals (oft im Servicemenü) mit den Daten Ihres Netzbetreibers durch.",
            "Schlägt die Aktivierung fehl, wenden Sie sich an Ihren Netzbetreiber.",
        ]),
        TerminalBusyStuck => ("Das Terminal hängt in einem unfertigen Vorgang", &[
            "Brechen Sie den laufenden Vorgang an der Kasse ab.",
            "Hilft das nicht, starten Sie das Terminal neu und prüfen Sie das Ergebnis der letzten Zahlung, bevor Sie erneut kassieren.",
        ]),
        GatewayOutdated => ("Die Kassen-/Gateway-Software ist zu alt", &[
            "Aktualisieren Sie tillgate (bzw. die Kassensoftware) auf die Version, die Anbieter oder Terminal verlangen.",
        ]),
        UpstreamOutage => ("Beim Zahlungsanbieter gibt es eine Störung", &[
            "Ihr Netzwerk ist nicht die Ursache: Warten Sie, bis der Anbieter die Störung behoben hat, und beobachten Sie seine Statusseite.",
            "Nehmen Sie solange Offline- oder Ersatzzahlungen an, sofern Ihr Vertrag das erlaubt.",
        ]),
        UpstreamMaintenance => ("Zahlungsanbieter oder Netzbetreiber führen Wartungsarbeiten durch", &[
            "Warten Sie das Ende der Wartung ab und versuchen Sie es dann erneut.",
            "Das Wartungsfenster steht in den Ankündigungen des Anbieters.",
        ]),
        HostUnreachableFromTerminal => ("Das Terminal erreicht seinen Zahlungs-Host nicht", &[
            "Das Terminal funktioniert im Filialnetz, kommt aber nicht hinaus: Prüfen Sie Gateway-, DNS-Einstellungen und Firewall des Terminals.",
            "Ist sein Internetzugang in Ordnung, wenden Sie sich an den Netzbetreiber – dessen Host nimmt es eventuell nicht an.",
        ]),
        Overheating => ("Das Terminal überhitzt", &[
            "Stellen Sie das Terminal weg von Wärmequellen: Sonne, Lampen, Öfen, Heizkörper.",
            "Sorgen Sie für Luft rundherum; nicht abdecken oder einbauen.",
        ]),
        PowerUnstable => ("Die Stromversorgung des Terminals ist instabil", &[
            "Verwenden Sie das Originalnetzteil oder ein anderes; tauschen Sie abgenutzte Ladegeräte und Kabel aus.",
            "Stecken Sie das Terminal in eine Steckdose, die nicht mit starken Verbrauchern geteilt wird.",
        ]),
        BatteryLow => ("Der Akku des Lesegeräts ist fast leer", &[
            "Laden Sie das Lesegerät jetzt und stellen Sie es zwischen den Verkäufen in die Ladestation.",
            "Entlädt es sich schnell, muss der Akku eventuell getauscht werden.",
        ]),
        HardwareFault => ("Das Terminal meldet einen Hardwaredefekt", &[
            "Starten Sie das Terminal einmal neu; bleibt der Fehler, lassen Sie es von Ihrem Anbieter austauschen.",
        ]),
        OperatorError => ("Eine kürzliche Einstellungsänderung hat die Verbindung unterbrochen", &[
            "Machen Sie die letzte Änderung an den Einstellungen dieses Terminals rückgängig oder korrigieren Sie sie; das Änderungsprotokoll zeigt, wer wann was geändert hat.",
            "Prüfen Sie eingetippte IP-Adressen, Ports und Passwörter genau.",
        ]),
        CaisseApWrongPort => ("Der Caisse-AP-Port des Terminals ist falsch", &[
            "Den Kassen-Port (caisse) im Netzwerk- oder „connexion caisse“-Menü des Terminals ablesen und im Registrierungscode (caisse-ap://HOST:PORT) korrigieren; Caisse-AP-Terminals lauschen standardmäßig auf 8888.",
            "Prüfen, dass die Adresse die des Zahlungsterminals ist und nicht ein anderes Gerät (Drucker, Router, PC) auf diesem Port antwortet.",
        ]),
        CaisseApNotInCaisseMode => ("Das Terminal ist nicht im Kassenmodus (caisse)", &[
            "Am Terminal die Kassenanbindung einschalten: im Manager-Menü „connexion caisse“ / ECR über IP (Ethernet oder WLAN) mit dem Protokoll Caisse-AP / Concert V3 wählen.",
            "Bei Ingenico-Terminals für Frankreich heißt die Kassenanwendung „CONCERT V3“; ein Terminal im Standalone-Modus nimmt die Verbindung an, antwortet aber nie.",
            "Das Terminal nach dem Umstellen neu starten und die Diagnose erneut ausführen.",
        ]),
        CaisseApProtocolRefused => ("Das Terminal lehnt Format oder Version der Caisse-AP-Anfrage ab", &[
            "Die Protokollversion des Terminals im Registrierungscode setzen: version=0300, 0310 oder 0320.",
            "Manche Terminals erwarten CR/LF nach jeder Anfrage, andere lehnen es ab: crlf=true im Registrierungscode umschalten.",
        ]),
        CaisseApActionUnsupported => ("Das Terminal kennt eine Aktion nicht, die tillgate sendet", &[
            "Ist die abgelehnte Aktion die Identifikation (CD=I), das Terminal ohne probe=identify registrieren: die TCP-Prüfung braucht nichts vom Terminal.",
            "Ist es das Storno (CD=2), mit cancel=false registrieren; Erstattungen gehen dann als Gutschrift.",
            "Den Hersteller bitten, die Caisse-AP-Aktion am Terminal freizuschalten (oder die Kassenanwendung zu aktualisieren).",
        ]),
        CaisseApCurrencyUnsupported => ("Das Terminal akzeptiert die Währung der Zahlung nicht", &[
            "Das Terminal mit der Währung registrieren, für die es eingerichtet ist (currency=eur, currency=xpf oder die ISO-4217-Nummer).",
            "Soll das Terminal diese Währung annehmen, den Acquirer bitten, sie freizuschalten.",
        ]),
    }
}
