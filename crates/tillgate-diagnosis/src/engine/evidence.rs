//! Evidence: the observations behind a cause, as structured facts rendered in words with numbers.

use crate::Lang;

/// One observation that supports a cause.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fact {
    TcpTimeouts {
        target: String,
        failed: usize,
        total: usize,
    },
    TcpRefused {
        target: String,
        failed: usize,
        total: usize,
    },
    TcpNoRoute {
        failed: usize,
        total: usize,
    },
    PingSilent {
        sent: u32,
    },
    PingOk {
        received: u32,
        sent: u32,
    },
    Loss {
        pct: u32,
    },
    HeartbeatsSilent {
        minutes: i64,
    },
    HeartbeatsRatio {
        received: usize,
        expected: usize,
    },
    ProviderOnline {
        pct: u32,
    },
    PeersFine {
        ok: usize,
        total: usize,
    },
    LocationSilent {
        location: String,
        silent: usize,
        total: usize,
        spread_min: i64,
    },
    LocationCommonGaps {
        location: String,
        gaps: usize,
        readers: usize,
    },
    LocationUnreachable {
        location: String,
        failed: usize,
        total: usize,
        spread_min: i64,
    },
    /// Readers the provider lists offline while the gateway reaches them on the LAN.
    ProviderDarkLanFine {
        readers: usize,
        locations: usize,
    },
    LocationsAffected {
        affected: usize,
        total: usize,
    },
    PosHostCannotReachProvider {
        location: String,
    },
    HostNoAddress,
    HostNoRoute,
    HostIpv6Only {
        addr: String,
    },
    ReaderIpv6Only,
    PublicAddress {
        ip: String,
    },
    OtherSubnet {
        reader_ip: String,
        lan: String,
    },
    SameSubnet {
        reader_ip: String,
        lan: String,
    },
    TestNameAnswer {
        answer: String,
    },
    PublicNameOk {
        name: String,
        ms: u32,
    },
    PublicNameFails {
        name: String,
        answer: String,
    },
    LocalLookupFails {
        failed: usize,
        total: usize,
    },
    LadderTcp {
        host: String,
        outcome: String,
        ms: u32,
    },
    LadderTls {
        host: String,
        outcome: String,
    },
    LadderHttp {
        host: String,
        status: String,
        ms: u32,
    },
    AddressChanges {
        changes: usize,
        distinct: usize,
        hours: f32,
    },
    /// Where the reader was seen: the address it left first (when known), then each new address
    /// with the time (seconds since the epoch) it was first seen there.
    AddressHistory {
        first: Option<String>,
        changes: Vec<(String, i64)>,
    },
    AlternatingAddresses {
        a: String,
        b: String,
        switches: usize,
    },
    RegularDrops {
        count: usize,
        interval_min: i64,
        spread_s: i64,
    },
    BothInterfacesUp,
    WeakRssi {
        dbm: i32,
    },
    RssiSwing {
        min: i32,
        max: i32,
    },
    LinkDrops {
        count: usize,
    },
    PeakLatency {
        base_ms: u32,
        peak_ms: u32,
        readers: usize,
        total: usize,
    },
    WifiJoin {
        failures: u32,
        standards: String,
        security: String,
    },
    FirmwareOld {
        version: String,
        min: String,
    },
    ModelUnknown {
        device_type: String,
    },
    Banner {
        text: String,
        n: usize,
        total: usize,
    },
    OddAnswer {
        n: usize,
        total: usize,
    },
    ConfiguredVsReported {
        configured: String,
        reported: String,
    },
    TlsFailure {
        reason: String,
        n: usize,
    },
    ClockOffset {
        seconds: i64,
    },
    Status401 {
        n: usize,
    },
    Status404 {
        n: usize,
    },
    InvalidLocation {
        n: usize,
    },
    Refused {
        command: u16,
        code: u8,
        n: usize,
    },
    StatusEnquiryOk {
        n: usize,
    },
    /// A Caisse-AP terminal answered `AE=01 AF=<af>` to a request with action `CD=<action>`.
    CaisseApRefused {
        action: char,
        af: u8,
        n: usize,
    },
    Code {
        code: u8,
    },
    ActionStuck {
        kind: String,
        minutes: i64,
        expected_s: u32,
        refusals: usize,
    },
    VersionRequired {
        have: String,
        need: String,
    },
    Upstream5xx {
        n: usize,
        total: usize,
        locations: usize,
    },
    StatusPage {
        indicator: String,
    },
    Reboots {
        count: usize,
        median_uptime_min: u64,
    },
    Temperature {
        max_c: i32,
    },
    Battery {
        first: u8,
        last: u8,
    },
    HardwareCode {
        code: String,
    },
    ConfigChange {
        actor: String,
        field: String,
        old: String,
        new: String,
        minutes_before: i64,
    },
}

fn code_meaning(code: u8, lang: Lang) -> &'static str {
    let t: [&str; 4] = match code {
        0xE4 => [
            "terminal activation required",
            "Terminal-Aktivierung erforderlich",
            "activation du terminal requise",
            "需要激活终端",
        ],
        0x51 => [
            "initialisation required",
            "Initialisierung erforderlich",
            "initialisation requise",
            "需要初始化",
        ],
        0xA3 => [
            "no connection to host",
            "keine Verbindung zum Host",
            "pas de connexion à l'hôte",
            "无法连接主机",
        ],
        0xE0 => [
            "remote maintenance running",
            "Fernwartung läuft",
            "télémaintenance en cours",
            "正在远程维护",
        ],
        0x9C => [
            "please wait (maintenance/update)",
            "bitte warten (Wartung/Update)",
            "veuillez patienter (maintenance/mise à jour)",
            "请稍候（维护/更新）",
        ],
        0xDF => [
            "out of order",
            "außer Betrieb",
            "hors service",
            "设备故障停用",
        ],
        0x00 => ["ready", "bereit", "prêt", "就绪"],
        _ => ["", "", "", ""],
    };
    t[lang as usize]
}

/// The names of a Caisse-AP action (`CD`) and refusal detail (`AF`), in one language.
fn caisse_ap_names(action: char, af: u8, lang: Lang) -> (&'static str, &'static str) {
    use Lang::*;
    let what: [&str; 4] = match action {
        '0' => ["debit", "Zahlung", "débit", "扣款"],
        '1' => ["credit", "Gutschrift", "crédit", "退款"],
        '2' => ["cancellation", "Storno", "annulation", "撤销"],
        '3' => ["duplicate ticket", "Belegkopie", "duplicata", "小票副本"],
        'I' => ["identification", "Identifikation", "identification", "识别"],
        _ => ["other action", "andere Aktion", "autre action", "其他操作"],
    };
    let meaning: [&str; 4] = match af {
        9 => [
            "bad message format",
            "falsches Nachrichtenformat",
            "format de message incorrect",
            "报文格式错误",
        ],
        12 => [
            "unknown action type",
            "unbekannte Aktion",
            "type d'action inconnu",
            "未知操作类型",
        ],
        13 => [
            "currency not supported",
            "Währung nicht unterstützt",
            "devise non supportée",
            "不支持该币种",
        ],
        4 => ["refused", "abgelehnt", "refusé", "拒绝"],
        6 | 11 => ["abandoned", "abgebrochen", "abandon", "已放弃"],
        _ => ["not done", "nicht ausgeführt", "non effectué", "未完成"],
    };
    let i = match lang {
        En => 0,
        De => 1,
        Fr => 2,
        Zh => 3,
    };
    (what[i], meaning[i])
}

/// `HH:MM:SS UTC` of a time in seconds since the epoch.
pub(crate) fn utc_time(at: i64) -> String {
    let s = at.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// A span of time: hours with one decimal, or whole minutes below an hour.
fn span(hours: f32, lang: Lang) -> String {
    let min = (hours * 60.0).round() as i64;
    match (hours < 1.0, lang) {
        (true, Lang::En) | (true, Lang::Fr) => format!("{} min", min.max(1)),
        (true, Lang::De) => format!("{} Min.", min.max(1)),
        (true, Lang::Zh) => format!("{}分钟", min.max(1)),
        (false, Lang::En) | (false, Lang::Fr) => format!("{hours:.1} h"),
        (false, Lang::De) => format!("{hours:.1} Std."),
        (false, Lang::Zh) => format!("{hours:.1}小时"),
    }
}

/// "10.0.0.5, then 10.0.0.9 from 09:12:00 UTC, then …" in `lang`.
fn address_history(first: Option<&str>, changes: &[(String, i64)], lang: Lang) -> String {
    let (lead, then, from) = match lang {
        Lang::En => ("the reader was seen at", ", then", "from"),
        Lang::De => ("das Terminal war erreichbar unter", ", dann", "ab"),
        Lang::Fr => ("le lecteur a été vu à", ", puis", "dès"),
        Lang::Zh => ("刷卡机先后出现在", "，然后", "自"),
    };
    let mut out = format!("{lead} {}", first.unwrap_or("?"));
    for (ip, at) in changes {
        out.push_str(&format!("{then} {ip} ({from} {})", utc_time(*at)));
    }
    out
}

impl Fact {
    pub fn render(&self, lang: Lang) -> String {
        use Fact::*;
        use Lang::*;
        match (self, lang) {
            (TcpTimeouts { target, failed, total }, En) => format!("{failed} of {total} connection attempts to {target} timed out with no answer"),
            (TcpTimeouts { target, failed, total }, De) => format!("{failed} von {total} Verbindungsversuchen zu {target} liefen ohne Antwort ins Leere"),
            (TcpTimeouts { target, failed, total }, Fr) => format!("{failed} tentatives de connexion sur {total} vers {target} ont expiré sans réponse"),
            (TcpTimeouts { target, failed, total }, Zh) => format!("连接{target}的{total}次尝试中有{failed}次超时无响应"),
            (TcpRefused { target, failed, total }, En) => format!("{failed} of {total} connection attempts to {target} were refused (RST): the device answers, but nothing listens on that port"),
            (TcpRefused { target, failed, total }, De) => format!("{failed} von {total} Verbindungsversuchen zu {target} wurden abgewiesen (RST): Das Gerät antwortet, aber auf diesem Port lauscht nichts"),
            (TcpRefused { target, failed, total }, Fr) => format!("{failed} tentatives sur {total} vers {target} ont été refusées (RST) : l'appareil répond, mais rien n'écoute sur ce port"),
            (TcpRefused { target, failed, total }, Zh) => format!("连接{target}的{total}次尝试中有{failed}次被拒绝（RST）：设备有响应，但该端口没有服务"),
            (TcpNoRoute { failed, total }, En) => format!("{failed} of {total} probes failed locally: the host has no route to the network"),
            (TcpNoRoute { failed, total }, De) => format!("{failed} von {total} Prüfungen scheiterten schon lokal: Der Rechner hat keine Route ins Netz"),
            (TcpNoRoute { failed, total }, Fr) => format!("{failed} sondes sur {total} ont échoué localement : l'hôte n'a pas de route vers le réseau"),
            (TcpNoRoute { failed, total }, Zh) => format!("{total}次探测中有{failed}次在本机即失败：主机没有网络路由"),
            (PingSilent { sent }, En) => format!("none of {sent} pings was answered"),
            (PingSilent { sent }, De) => format!("keiner von {sent} Pings wurde beantwortet"),
            (PingSilent { sent }, Fr) => format!("aucun des {sent} pings n'a reçu de réponse"),
            (PingSilent { sent }, Zh) => format!("{sent}次ping均无响应"),
            (PingOk { received, sent }, En) => format!("the device answers pings ({received} of {sent})"),
            (PingOk { received, sent }, De) => format!("das Gerät antwortet auf Pings ({received} von {sent})"),
            (PingOk { received, sent }, Fr) => format!("l'appareil répond aux pings ({received} sur {sent})"),
            (PingOk { received, sent }, Zh) => format!("设备响应ping（{sent}次中{received}次）"),
            (Loss { pct }, En) => format!("{pct} % packet loss on probes"),
            (Loss { pct }, De) => format!("{pct} % Paketverlust bei den Prüfungen"),
            (Loss { pct }, Fr) => format!("{pct} % de perte de paquets sur les sondes"),
            (Loss { pct }, Zh) => format!("探测丢包率{pct}%"),
            (HeartbeatsSilent { minutes }, En) => format!("no heartbeat from the reader for {minutes} min"),
            (HeartbeatsSilent { minutes }, De) => format!("seit {minutes} Min. kein Lebenszeichen (Heartbeat) vom Terminal"),
            (HeartbeatsSilent { minutes }, Fr) => format!("aucun signal de vie (heartbeat) du lecteur depuis {minutes} min"),
            (HeartbeatsSilent { minutes }, Zh) => format!("已有{minutes}分钟未收到刷卡机心跳"),
            (HeartbeatsRatio { received, expected }, En) => format!("{received} of {expected} expected heartbeats arrived"),
            (HeartbeatsRatio { received, expected }, De) => format!("{received} von {expected} erwarteten Heartbeats kamen an"),
            (HeartbeatsRatio { received, expected }, Fr) => format!("{received} heartbeats reçus sur {expected} attendus"),
            (HeartbeatsRatio { received, expected }, Zh) => format!("应收{expected}次心跳，实收{received}次"),
            (ProviderOnline { pct }, En) => format!("the payment provider saw the reader online in {pct} % of checks"),
            (ProviderOnline { pct }, De) => format!("der Zahlungsanbieter sah das Terminal bei {pct} % der Abfragen online"),
            (ProviderOnline { pct }, Fr) => format!("le prestataire voyait le lecteur en ligne lors de {pct} % des vérifications"),
            (ProviderOnline { pct }, Zh) => format!("支付服务商在{pct}%的检查中显示刷卡机在线"),
            (PeersFine { ok, total }, En) => format!("{ok} of {total} other readers at the same location work normally"),
            (PeersFine { ok, total }, De) => format!("{ok} von {total} anderen Terminals am selben Standort arbeiten normal"),
            (PeersFine { ok, total }, Fr) => format!("{ok} des {total} autres lecteurs du même emplacement fonctionnent normalement"),
            (PeersFine { ok, total }, Zh) => format!("同一门店的其他{total}台刷卡机中有{ok}台工作正常"),
            (LocationSilent { location, silent, total, spread_min }, En) => format!("{silent} of {total} readers at {location} went silent within {spread_min} min of each other"),
            (LocationSilent { location, silent, total, spread_min }, De) => format!("{silent} von {total} Terminals in {location} verstummten innerhalb von {spread_min} Min."),
            (LocationSilent { location, silent, total, spread_min }, Fr) => format!("{silent} lecteurs sur {total} à {location} se sont tus à {spread_min} min d'intervalle"),
            (LocationSilent { location, silent, total, spread_min }, Zh) => format!("{location}的{total}台刷卡机中有{silent}台在{spread_min}分钟内相继失联"),
            (LocationCommonGaps { location, gaps, readers }, En) => format!("all {readers} readers at {location} lost contact at the same moments ({gaps} times)"),
            (LocationCommonGaps { location, gaps, readers }, De) => format!("alle {readers} Terminals in {location} verloren gleichzeitig die Verbindung ({gaps}-mal)"),
            (LocationCommonGaps { location, gaps, readers }, Fr) => format!("les {readers} lecteurs de {location} ont perdu le contact aux mêmes moments ({gaps} fois)"),
            (LocationCommonGaps { location, gaps, readers }, Zh) => format!("{location}的全部{readers}台刷卡机同时断线（共{gaps}次）"),
            (LocationUnreachable { location, failed, total, spread_min }, En) => format!("{failed} of {total} terminals at {location} stopped answering on the network within {spread_min} min of each other"),
            (LocationUnreachable { location, failed, total, spread_min }, De) => format!("{failed} von {total} Terminals in {location} antworteten innerhalb von {spread_min} Min. nicht mehr im Netz"),
            (LocationUnreachable { location, failed, total, spread_min }, Fr) => format!("{failed} terminaux sur {total} à {location} ont cessé de répondre sur le réseau à {spread_min} min d'intervalle"),
            (LocationUnreachable { location, failed, total, spread_min }, Zh) => format!("{location}的{total}台终端中有{failed}台在{spread_min}分钟内相继在网络上失去响应"),
            (ProviderDarkLanFine { readers, locations }, En) => format!("the provider lists {readers} readers at {locations} locations as offline, yet each answers on its store's network"),
            (ProviderDarkLanFine { readers, locations }, De) => format!("der Anbieter führt {readers} Terminals an {locations} Standorten als offline, doch jedes antwortet im Netz seiner Filiale"),
            (ProviderDarkLanFine { readers, locations }, Fr) => format!("le prestataire indique {readers} lecteurs de {locations} emplacements hors ligne, alors que chacun répond sur le réseau de son magasin"),
            (ProviderDarkLanFine { readers, locations }, Zh) => format!("服务商显示{locations}个门店的{readers}台刷卡机离线，但每台在门店局域网内都有响应"),
            (LocationsAffected { affected, total }, En) => format!("readers at {affected} of {total} locations are affected at the same time"),
            (LocationsAffected { affected, total }, De) => format!("Terminals an {affected} von {total} Standorten sind gleichzeitig betroffen"),
            (LocationsAffected { affected, total }, Fr) => format!("des lecteurs de {affected} emplacements sur {total} sont touchés en même temps"),
            (LocationsAffected { affected, total }, Zh) => format!("{total}个门店中有{affected}个门店的刷卡机同时受影响"),
            (PosHostCannotReachProvider { location }, En) => format!("the till at {location} cannot reach the internet either"),
            (PosHostCannotReachProvider { location }, De) => format!("auch die Kasse in {location} erreicht das Internet nicht"),
            (PosHostCannotReachProvider { location }, Fr) => format!("la caisse de {location} n'accède pas non plus à Internet"),
            (PosHostCannotReachProvider { location }, Zh) => format!("{location}的收银机也无法访问互联网"),
            (HostNoAddress, En) => "the host has no IPv4 or IPv6 address on any network interface".into(),
            (HostNoAddress, De) => "der Rechner hat auf keiner Netzwerkschnittstelle eine IPv4- oder IPv6-Adresse".into(),
            (HostNoAddress, Fr) => "l'hôte n'a d'adresse IPv4 ou IPv6 sur aucune interface réseau".into(),
            (HostNoAddress, Zh) => "主机的所有网卡都没有IPv4或IPv6地址".into(),
            (HostNoRoute, En) => "the host has no default route".into(),
            (HostNoRoute, De) => "der Rechner hat keine Standardroute".into(),
            (HostNoRoute, Fr) => "l'hôte n'a pas de route par défaut".into(),
            (HostNoRoute, Zh) => "主机没有默认路由".into(),
            (HostIpv6Only { addr }, En) => format!("the host only has IPv6 addresses ({addr}), no IPv4"),
            (HostIpv6Only { addr }, De) => format!("der Rechner hat nur IPv6-Adressen ({addr}), kein IPv4"),
            (HostIpv6Only { addr }, Fr) => format!("l'hôte n'a que des adresses IPv6 ({addr}), pas d'IPv4"),
            (HostIpv6Only { addr }, Zh) => format!("主机只有IPv6地址（{addr}），没有IPv4"),
            (ReaderIpv6Only, En) => "the reader reports only IPv6 addresses, no IPv4".into(),
            (ReaderIpv6Only, De) => "das Terminal meldet nur IPv6-Adressen, kein IPv4".into(),
            (ReaderIpv6Only, Fr) => "le lecteur ne signale que des adresses IPv6, pas d'IPv4".into(),
            (ReaderIpv6Only, Zh) => "刷卡机只报告了IPv6地址，没有IPv4".into(),
            (PublicAddress { ip }, En) => format!("the reader's address {ip} is a public address, not a private LAN address"),
            (PublicAddress { ip }, De) => format!("die Adresse {ip} des Terminals ist öffentlich, keine private LAN-Adresse"),
            (PublicAddress { ip }, Fr) => format!("l'adresse {ip} du lecteur est publique, pas une adresse privée du réseau local"),
            (PublicAddress { ip }, Zh) => format!("刷卡机地址{ip}是公网地址，而非内网地址"),
            (OtherSubnet { reader_ip, lan }, En) => format!("the reader is at {reader_ip}, outside the till's network {lan}"),
            (OtherSubnet { reader_ip, lan }, De) => format!("das Terminal hat {reader_ip}, außerhalb des Kassennetzes {lan}"),
            (OtherSubnet { reader_ip, lan }, Fr) => format!("le lecteur est en {reader_ip}, hors du réseau de la caisse {lan}"),
            (OtherSubnet { reader_ip, lan }, Zh) => format!("刷卡机地址为{reader_ip}，不在收银机所在网段{lan}内"),
            (SameSubnet { reader_ip, lan }, En) => format!("the reader ({reader_ip}) is in the same network as the till ({lan})"),
            (SameSubnet { reader_ip, lan }, De) => format!("das Terminal ({reader_ip}) ist im selben Netz wie die Kasse ({lan})"),
            (SameSubnet { reader_ip, lan }, Fr) => format!("le lecteur ({reader_ip}) est dans le même réseau que la caisse ({lan})"),
            (SameSubnet { reader_ip, lan }, Zh) => format!("刷卡机（{reader_ip}）与收银机（{lan}）在同一网段"),
            (TestNameAnswer { answer }, En) => format!("the test name 10-42-42-42.test.device.stripe-terminal-local-reader.net resolved to {answer} instead of 10.42.42.42"),
            (TestNameAnswer { answer }, De) => format!("der Testname 10-42-42-42.test.device.stripe-terminal-local-reader.net ergab {answer} statt 10.42.42.42"),
            (TestNameAnswer { answer }, Fr) => format!("le nom de test 10-42-42-42.test.device.stripe-terminal-local-reader.net a donné {answer} au lieu de 10.42.42.42"),
            (TestNameAnswer { answer }, Zh) => format!("测试域名10-42-42-42.test.device.stripe-terminal-local-reader.net解析结果为{answer}，而不是10.42.42.42"),
            (PublicNameOk { name, ms }, En) => format!("public names resolve normally ({name} in {ms} ms)"),
            (PublicNameOk { name, ms }, De) => format!("öffentliche Namen werden normal aufgelöst ({name} in {ms} ms)"),
            (PublicNameOk { name, ms }, Fr) => format!("les noms publics se résolvent normalement ({name} en {ms} ms)"),
            (PublicNameOk { name, ms }, Zh) => format!("公共域名解析正常（{name}，{ms}毫秒）"),
            (PublicNameFails { name, answer }, En) => format!("{name} could not be resolved: {answer}"),
            (PublicNameFails { name, answer }, De) => format!("{name} konnte nicht aufgelöst werden: {answer}"),
            (PublicNameFails { name, answer }, Fr) => format!("{name} n'a pas pu être résolu : {answer}"),
            (PublicNameFails { name, answer }, Zh) => format!("无法解析{name}：{answer}"),
            (LocalLookupFails { failed, total }, En) => format!("{failed} of {total} look-ups of the reader's local name failed"),
            (LocalLookupFails { failed, total }, De) => format!("{failed} von {total} Abfragen des lokalen Terminal-Namens schlugen fehl"),
            (LocalLookupFails { failed, total }, Fr) => format!("{failed} résolutions sur {total} du nom local du lecteur ont échoué"),
            (LocalLookupFails { failed, total }, Zh) => format!("刷卡机本地域名的{total}次解析中有{failed}次失败"),
            (LadderTcp { host, outcome, ms }, En) => format!("connecting to {host}:443 ended with \"{outcome}\" after {ms} ms"),
            (LadderTcp { host, outcome, ms }, De) => format!("der Verbindungsaufbau zu {host}:443 endete nach {ms} ms mit „{outcome}“"),
            (LadderTcp { host, outcome, ms }, Fr) => format!("la connexion à {host}:443 s'est terminée par « {outcome} » après {ms} ms"),
            (LadderTcp { host, outcome, ms }, Zh) => format!("连接{host}:443在{ms}毫秒后结果为“{outcome}”"),
            (LadderTls { host, outcome }, En) => format!("the TLS handshake with {host} failed: {outcome}"),
            (LadderTls { host, outcome }, De) => format!("der TLS-Handshake mit {host} schlug fehl: {outcome}"),
            (LadderTls { host, outcome }, Fr) => format!("la négociation TLS avec {host} a échoué : {outcome}"),
            (LadderTls { host, outcome }, Zh) => format!("与{host}的TLS握手失败：{outcome}"),
            (LadderHttp { host, status, ms }, En) => format!("{host} answered HTTP {status} after {ms} ms"),
            (LadderHttp { host, status, ms }, De) => format!("{host} antwortete nach {ms} ms mit HTTP {status}"),
            (LadderHttp { host, status, ms }, Fr) => format!("{host} a répondu HTTP {status} après {ms} ms"),
            (LadderHttp { host, status, ms }, Zh) => format!("{host}在{ms}毫秒后返回HTTP {status}"),
            (AddressChanges { changes, distinct, hours }, En) => format!("the reader's IP address changed {changes} times in {} ({distinct} different addresses)", span(*hours, En)),
            (AddressChanges { changes, distinct, hours }, De) => format!("die IP-Adresse des Terminals wechselte {changes}-mal in {} ({distinct} verschiedene Adressen)", span(*hours, De)),
            (AddressChanges { changes, distinct, hours }, Fr) => format!("l'adresse IP du lecteur a changé {changes} fois en {} ({distinct} adresses différentes)", span(*hours, Fr)),
            (AddressChanges { changes, distinct, hours }, Zh) => format!("刷卡机IP地址在{}内变化了{changes}次（{distinct}个不同地址）", span(*hours, Zh)),
            (AddressHistory { first, changes }, lang) => address_history(first.as_deref(), changes, lang),
            (AlternatingAddresses { a, b, switches }, En) => format!("the reader switched back and forth between {a} and {b} ({switches} times)"),
            (AlternatingAddresses { a, b, switches }, De) => format!("das Terminal wechselte hin und her zwischen {a} und {b} ({switches}-mal)"),
            (AlternatingAddresses { a, b, switches }, Fr) => format!("le lecteur alterne entre {a} et {b} ({switches} fois)"),
            (AlternatingAddresses { a, b, switches }, Zh) => format!("刷卡机在{a}和{b}之间来回切换（{switches}次）"),
            (RegularDrops { count, interval_min, spread_s }, En) => format!("{count} disconnects at a regular interval of {interval_min} min (± {spread_s} s)"),
            (RegularDrops { count, interval_min, spread_s }, De) => format!("{count} Verbindungsabbrüche in festem Abstand von {interval_min} Min. (± {spread_s} s)"),
            (RegularDrops { count, interval_min, spread_s }, Fr) => format!("{count} déconnexions à intervalle régulier de {interval_min} min (± {spread_s} s)"),
            (RegularDrops { count, interval_min, spread_s }, Zh) => format!("{count}次断线，间隔固定为{interval_min}分钟（±{spread_s}秒）"),
            (BothInterfacesUp, En) => "the reader reports Wi-Fi and Ethernet up at the same time".into(),
            (BothInterfacesUp, De) => "das Terminal meldet WLAN und Ethernet gleichzeitig aktiv".into(),
            (BothInterfacesUp, Fr) => "le lecteur signale le Wi-Fi et l'Ethernet actifs en même temps".into(),
            (BothInterfacesUp, Zh) => "刷卡机报告WiFi和以太网同时在用".into(),
            (WeakRssi { dbm }, En) => format!("Wi-Fi signal at the reader is {dbm} dBm (below about −70 dBm is weak)"),
            (WeakRssi { dbm }, De) => format!("das WLAN-Signal am Terminal liegt bei {dbm} dBm (unter etwa −70 dBm ist schwach)"),
            (WeakRssi { dbm }, Fr) => format!("le signal Wi-Fi au lecteur est de {dbm} dBm (en dessous d'environ −70 dBm, il est faible)"),
            (WeakRssi { dbm }, Zh) => format!("刷卡机处WiFi信号为{dbm} dBm（低于约−70 dBm即为弱信号）"),
            (RssiSwing { min, max }, En) => format!("signal strength swings between {min} and {max} dBm"),
            (RssiSwing { min, max }, De) => format!("die Signalstärke schwankt zwischen {min} und {max} dBm"),
            (RssiSwing { min, max }, Fr) => format!("la puissance du signal varie entre {min} et {max} dBm"),
            (RssiSwing { min, max }, Zh) => format!("信号强度在{min}到{max} dBm之间波动"),
            (LinkDrops { count }, En) => format!("the link to the reader dropped {count} times"),
            (LinkDrops { count }, De) => format!("die Verbindung zum Terminal brach {count}-mal ab"),
            (LinkDrops { count }, Fr) => format!("la liaison avec le lecteur a été coupée {count} fois"),
            (LinkDrops { count }, Zh) => format!("与刷卡机的连接断开了{count}次"),
            (PeakLatency { base_ms, peak_ms, readers, total }, En) => format!("latency rose from {base_ms} ms to {peak_ms} ms at peak time on {readers} of {total} readers together"),
            (PeakLatency { base_ms, peak_ms, readers, total }, De) => format!("die Antwortzeit stieg zur Stoßzeit bei {readers} von {total} Terminals gemeinsam von {base_ms} ms auf {peak_ms} ms"),
            (PeakLatency { base_ms, peak_ms, readers, total }, Fr) => format!("la latence est passée de {base_ms} ms à {peak_ms} ms aux heures de pointe, sur {readers} lecteurs sur {total} en même temps"),
            (PeakLatency { base_ms, peak_ms, readers, total }, Zh) => format!("高峰时段{total}台中有{readers}台刷卡机的延迟同时从{base_ms}毫秒升至{peak_ms}毫秒"),
            (WifiJoin { failures, standards, security }, En) => format!("the reader failed {failures} times to join the Wi-Fi, which offers {standards} with {security}"),
            (WifiJoin { failures, standards, security }, De) => format!("das Terminal scheiterte {failures}-mal beim Verbinden mit dem WLAN ({standards}, {security})"),
            (WifiJoin { failures, standards, security }, Fr) => format!("le lecteur a échoué {failures} fois à rejoindre le Wi-Fi, qui propose {standards} avec {security}"),
            (WifiJoin { failures, standards, security }, Zh) => format!("刷卡机{failures}次加入WiFi失败，该WiFi为{standards}、{security}"),
            (FirmwareOld { version, min }, En) => format!("the reader runs software {version}; this model needs at least {min}"),
            (FirmwareOld { version, min }, De) => format!("auf dem Terminal läuft Software {version}; dieses Modell braucht mindestens {min}"),
            (FirmwareOld { version, min }, Fr) => format!("le lecteur utilise le logiciel {version} ; ce modèle exige au moins {min}"),
            (FirmwareOld { version, min }, Zh) => format!("刷卡机软件版本为{version}，该型号至少需要{min}"),
            (ModelUnknown { device_type }, En) => format!("device type \"{device_type}\" is not among the supported models"),
            (ModelUnknown { device_type }, De) => format!("Gerätetyp „{device_type}“ gehört nicht zu den unterstützten Modellen"),
            (ModelUnknown { device_type }, Fr) => format!("le type d'appareil « {device_type} » ne fait pas partie des modèles pris en charge"),
            (ModelUnknown { device_type }, Zh) => format!("设备类型“{device_type}”不在支持的型号之列"),
            (Banner { text, n, total }, En) => format!("{n} of {total} connections were answered with \"{text}\" instead of the terminal protocol"),
            (Banner { text, n, total }, De) => format!("{n} von {total} Verbindungen wurden mit „{text}“ statt mit dem Terminalprotokoll beantwortet"),
            (Banner { text, n, total }, Fr) => format!("{n} connexions sur {total} ont reçu « {text} » au lieu du protocole du terminal"),
            (Banner { text, n, total }, Zh) => format!("{total}次连接中有{n}次收到“{text}”，而不是终端协议应答"),
            (OddAnswer { n, total }, En) => format!("{n} of {total} connections were accepted and then closed or left unanswered"),
            (OddAnswer { n, total }, De) => format!("{n} von {total} Verbindungen wurden angenommen und dann geschlossen oder nicht beantwortet"),
            (OddAnswer { n, total }, Fr) => format!("{n} connexions sur {total} ont été acceptées puis fermées ou laissées sans réponse"),
            (OddAnswer { n, total }, Zh) => format!("{total}次连接中有{n}次被接受后立即关闭或无应答"),
            (ConfiguredVsReported { configured, reported }, En) => format!("configured address {configured}, but the reader reports {reported}"),
            (ConfiguredVsReported { configured, reported }, De) => format!("eingetragen ist {configured}, das Terminal meldet aber {reported}"),
            (ConfiguredVsReported { configured, reported }, Fr) => format!("adresse configurée {configured}, mais le lecteur signale {reported}"),
            (ConfiguredVsReported { configured, reported }, Zh) => format!("配置地址为{configured}，但刷卡机报告的地址是{reported}"),
            (TlsFailure { reason, n }, En) => format!("the TLS handshake with the reader failed {n} times: {reason}"),
            (TlsFailure { reason, n }, De) => format!("der TLS-Handshake mit dem Terminal schlug {n}-mal fehl: {reason}"),
            (TlsFailure { reason, n }, Fr) => format!("la négociation TLS avec le lecteur a échoué {n} fois : {reason}"),
            (TlsFailure { reason, n }, Zh) => format!("与刷卡机的TLS握手失败{n}次：{reason}"),
            (ClockOffset { seconds }, En) => format!("the host clock is {seconds} s off the provider's time"),
            (ClockOffset { seconds }, De) => format!("die Uhr des Rechners weicht {seconds} s von der Zeit des Anbieters ab"),
            (ClockOffset { seconds }, Fr) => format!("l'horloge de l'hôte s'écarte de {seconds} s de l'heure du prestataire"),
            (ClockOffset { seconds }, Zh) => format!("主机时钟与服务商时间相差{seconds}秒"),
            (Status401 { n }, En) => format!("the provider answered 401 (authentication failed) {n} times"),
            (Status401 { n }, De) => format!("der Anbieter antwortete {n}-mal mit 401 (Authentifizierung fehlgeschlagen)"),
            (Status401 { n }, Fr) => format!("le prestataire a répondu 401 (authentification refusée) {n} fois"),
            (Status401 { n }, Zh) => format!("服务商{n}次返回401（认证失败）"),
            (Status404 { n }, En) => format!("the provider does not know this reader (404, {n} times)"),
            (Status404 { n }, De) => format!("der Anbieter kennt dieses Terminal nicht (404, {n}-mal)"),
            (Status404 { n }, Fr) => format!("le prestataire ne connaît pas ce lecteur (404, {n} fois)"),
            (Status404 { n }, Zh) => format!("服务商不认识这台刷卡机（404，{n}次）"),
            (InvalidLocation { n }, En) => format!("the provider refused the reader for this location {n} times"),
            (InvalidLocation { n }, De) => format!("der Anbieter wies das Terminal für diesen Standort {n}-mal ab"),
            (InvalidLocation { n }, Fr) => format!("le prestataire a refusé le lecteur pour cet emplacement {n} fois"),
            (InvalidLocation { n }, Zh) => format!("服务商{n}次拒绝该刷卡机在此门店使用"),
            (Refused { command, code, n }, En) => format!("the terminal refused command {command:04X} with code {code:02X} ({n} times)"),
            (Refused { command, code, n }, De) => format!("das Terminal wies Befehl {command:04X} mit Code {code:02X} ab ({n}-mal)"),
            (Refused { command, code, n }, Fr) => format!("le terminal a refusé la commande {command:04X} avec le code {code:02X} ({n} fois)"),
            (Refused { command, code, n }, Zh) => format!("终端以代码{code:02X}拒绝了命令{command:04X}（{n}次）"),
            (CaisseApRefused { action, af, n }, l) => {
                let (what, meaning) = caisse_ap_names(*action, *af, l);
                match l {
                    En => format!("the terminal answered AE=01 AF={af:02} ({meaning}) to the request CD={action} ({what}), {n} times"),
                    De => format!("das Terminal antwortete auf die Anfrage CD={action} ({what}) mit AE=01 AF={af:02} ({meaning}), {n}-mal"),
                    Fr => format!("le terminal a répondu AE=01 AF={af:02} ({meaning}) à la demande CD={action} ({what}), {n} fois"),
                    Zh => format!("终端对请求CD={action}（{what}）应答AE=01 AF={af:02}（{meaning}），共{n}次"),
                }
            }
            (StatusEnquiryOk { n }, En) => format!("status enquiries were answered normally ({n} times)"),
            (StatusEnquiryOk { n }, De) => format!("Statusabfragen wurden normal beantwortet ({n}-mal)"),
            (StatusEnquiryOk { n }, Fr) => format!("les demandes d'état ont reçu une réponse normale ({n} fois)"),
            (StatusEnquiryOk { n }, Zh) => format!("状态查询应答正常（{n}次）"),
            (Code { code }, l) => {
                let m = code_meaning(*code, l);
                match l {
                    En => format!("the terminal reports code {code:02X} ({m})"),
                    De => format!("das Terminal meldet Code {code:02X} ({m})"),
                    Fr => format!("le terminal signale le code {code:02X} ({m})"),
                    Zh => format!("终端报告代码{code:02X}（{m}）"),
                }
            }
            (ActionStuck { kind, minutes, expected_s, refusals }, En) => format!("action \"{kind}\" has been in progress for {minutes} min (normally {expected_s} s); {refusals} new commands refused as busy"),
            (ActionStuck { kind, minutes, expected_s, refusals }, De) => format!("Vorgang „{kind}“ läuft seit {minutes} Min. (normal {expected_s} s); {refusals} neue Befehle als „belegt“ abgewiesen"),
            (ActionStuck { kind, minutes, expected_s, refusals }, Fr) => format!("l'opération « {kind} » est en cours depuis {minutes} min (normalement {expected_s} s) ; {refusals} nouvelles commandes refusées (occupé)"),
            (ActionStuck { kind, minutes, expected_s, refusals }, Zh) => format!("操作“{kind}”已进行{minutes}分钟（正常{expected_s}秒）；{refusals}条新指令因忙碌被拒"),
            (VersionRequired { have, need }, En) => format!("the gateway runs {have}; the provider requires at least {need}"),
            (VersionRequired { have, need }, De) => format!("das Gateway läuft mit {have}; der Anbieter verlangt mindestens {need}"),
            (VersionRequired { have, need }, Fr) => format!("la passerelle est en version {have} ; le prestataire exige au moins {need}"),
            (VersionRequired { have, need }, Zh) => format!("网关版本为{have}，服务商要求至少{need}"),
            (Upstream5xx { n, total, locations }, En) => format!("{n} of {total} provider calls failed with a server error or no answer, across {locations} locations"),
            (Upstream5xx { n, total, locations }, De) => format!("{n} von {total} Anfragen an den Anbieter scheiterten mit Serverfehler oder ohne Antwort, an {locations} Standorten"),
            (Upstream5xx { n, total, locations }, Fr) => format!("{n} appels sur {total} au prestataire ont échoué (erreur serveur ou sans réponse), sur {locations} emplacements"),
            (Upstream5xx { n, total, locations }, Zh) => format!("{locations}个门店对服务商的{total}次调用中有{n}次服务器错误或无响应"),
            (StatusPage { indicator }, En) => format!("the provider's status page reports \"{indicator}\""),
            (StatusPage { indicator }, De) => format!("die Statusseite des Anbieters meldet „{indicator}“"),
            (StatusPage { indicator }, Fr) => format!("la page d'état du prestataire indique « {indicator} »"),
            (StatusPage { indicator }, Zh) => format!("服务商状态页显示“{indicator}”"),
            (Reboots { count, median_uptime_min }, En) => format!("the terminal restarted {count} times, typically after only {median_uptime_min} min of uptime"),
            (Reboots { count, median_uptime_min }, De) => format!("das Terminal startete {count}-mal neu, meist schon nach {median_uptime_min} Min. Laufzeit"),
            (Reboots { count, median_uptime_min }, Fr) => format!("le terminal a redémarré {count} fois, en général après seulement {median_uptime_min} min de fonctionnement"),
            (Reboots { count, median_uptime_min }, Zh) => format!("终端重启了{count}次，通常仅运行{median_uptime_min}分钟就重启"),
            (Temperature { max_c }, En) => format!("the terminal reported up to {max_c} °C"),
            (Temperature { max_c }, De) => format!("das Terminal meldete bis zu {max_c} °C"),
            (Temperature { max_c }, Fr) => format!("le terminal a signalé jusqu'à {max_c} °C"),
            (Temperature { max_c }, Zh) => format!("终端报告温度最高达{max_c}°C"),
            (Battery { first, last }, En) => format!("the battery fell from {first} % to {last} %"),
            (Battery { first, last }, De) => format!("der Akku fiel von {first} % auf {last} %"),
            (Battery { first, last }, Fr) => format!("la batterie est passée de {first} % à {last} %"),
            (Battery { first, last }, Zh) => format!("电量从{first}%降到{last}%"),
            (HardwareCode { code }, En) => format!("the reader reports \"{code}\""),
            (HardwareCode { code }, De) => format!("das Terminal meldet „{code}“"),
            (HardwareCode { code }, Fr) => format!("le lecteur signale « {code} »"),
            (HardwareCode { code }, Zh) => format!("刷卡机报告“{code}”"),
            (ConfigChange { actor, field, old, new, minutes_before }, En) => format!("{actor} changed {field} from {old} to {new}; failures began {minutes_before} min later"),
            (ConfigChange { actor, field, old, new, minutes_before }, De) => format!("{actor} änderte {field} von {old} auf {new}; {minutes_before} Min. später begannen die Fehler"),
            (ConfigChange { actor, field, old, new, minutes_before }, Fr) => format!("{actor} a changé {field} de {old} à {new} ; les échecs ont commencé {minutes_before} min plus tard"),
            (ConfigChange { actor, field, old, new, minutes_before }, Zh) => format!("{actor}将{field}从{old}改为{new}；{minutes_before}分钟后开始出错"),
        }
    }
}
