//! The next test to run when the evidence cannot separate the top causes (localised).

use crate::catalogue::{Category, Cause};
use crate::Lang;

/// How close two scores must be before the engine asks for another test.
const TIE: f32 = 0.1;

enum Test {
    Hotspot,
    LookAtReader,
    CompareAddresses,
    StatusPage,
    Cable,
}

fn text(t: Test, lang: Lang) -> &'static str {
    use Lang::*;
    match (t, lang) {
        (Test::Hotspot, En) => "Connect the reader and the till to a mobile hotspot for a few minutes: if the problem disappears, the store network is at fault; if it stays, look at the reader or the setup.",
        (Test::Hotspot, De) => "Verbinden Sie Terminal und Kasse für einige Minuten mit einem mobilen Hotspot: Verschwindet das Problem, liegt es am Filialnetz; bleibt es, am Terminal oder an der Einrichtung.",
        (Test::Hotspot, Fr) => "Connectez le lecteur et la caisse quelques minutes à un point d'accès mobile : si le problème disparaît, le réseau du magasin est en cause ; s'il persiste, voyez le lecteur ou la configuration.",
        (Test::Hotspot, Zh) => "把刷卡机和收银机临时连到手机热点几分钟：问题消失说明是门店网络的问题；问题依旧则检查刷卡机或配置。",
        (Test::LookAtReader, En) => "Look at the reader: if its screen is dark, it has no power; if it is on, check the router and the cable next.",
        (Test::LookAtReader, De) => "Schauen Sie auf das Terminal: Ist das Display dunkel, fehlt Strom; ist es an, prüfen Sie als Nächstes Router und Kabel.",
        (Test::LookAtReader, Fr) => "Regardez le lecteur : si l'écran est éteint, il n'est pas alimenté ; s'il est allumé, vérifiez ensuite le routeur et le câble.",
        (Test::LookAtReader, Zh) => "看一下刷卡机：屏幕不亮说明没电；如果亮着，接着检查路由器和网线。",
        (Test::CompareAddresses, En) => "Compare the IP address on the reader's network screen with the till's, and ping the reader from the till.",
        (Test::CompareAddresses, De) => "Vergleichen Sie die IP-Adresse im Netzwerkmenü des Terminals mit der der Kasse und pingen Sie das Terminal von der Kasse aus an.",
        (Test::CompareAddresses, Fr) => "Comparez l'adresse IP affichée sur l'écran réseau du lecteur avec celle de la caisse, et faites un ping du lecteur depuis la caisse.",
        (Test::CompareAddresses, Zh) => "对比刷卡机网络页面上的IP地址与收银机的地址，并从收银机ping刷卡机。",
        (Test::StatusPage, En) => "Open the payment provider's status page: an announced maintenance or an incident there settles it.",
        (Test::StatusPage, De) => "Öffnen Sie die Statusseite des Zahlungsanbieters: Eine angekündigte Wartung oder Störung dort klärt es.",
        (Test::StatusPage, Fr) => "Ouvrez la page d'état du prestataire de paiement : une maintenance annoncée ou un incident y tranche la question.",
        (Test::StatusPage, Zh) => "打开支付服务商的状态页：如有维护公告或故障通报即可确认。",
        (Test::Cable, En) => "Connect the reader with an Ethernet cable for an hour: if the drops stop, the radio link is the cause.",
        (Test::Cable, De) => "Schließen Sie das Terminal für eine Stunde per Netzwerkkabel an: Hören die Abbrüche auf, liegt es an der Funkverbindung.",
        (Test::Cable, Fr) => "Branchez le lecteur en Ethernet pendant une heure : si les coupures cessent, la liaison radio est en cause.",
        (Test::Cable, Zh) => "用网线连接刷卡机一小时：如果不再断线，问题就在无线连接。",
    }
}

/// Picks the test that separates the two best causes, when their scores are too close (or weak).
pub(super) fn pick(ranked: &[(Cause, f32)], lang: Lang) -> Option<String> {
    let (a, sa) = *ranked.first()?;
    let close = ranked
        .get(1)
        .filter(|(_, sb)| sa - sb < TIE)
        .map(|(b, _)| *b);
    let test = match close {
        None if sa >= 0.6 => return None,
        None => Test::Hotspot,
        Some(b) => {
            let pair = |x: Cause, y: Cause| (a == x && b == y) || (a == y && b == x);
            if pair(Cause::UpstreamOutage, Cause::UpstreamMaintenance) {
                Test::StatusPage
            } else if pair(Cause::ReaderPoweredOff, Cause::LocationNetworkDown)
                || pair(Cause::ReaderPoweredOff, Cause::BatteryLow)
            {
                Test::LookAtReader
            } else if pair(Cause::ClientIsolation, Cause::DifferentSubnet)
                || pair(Cause::WrongAddress, Cause::DhcpAddressChurn)
                || pair(Cause::WrongAddress, Cause::ReaderPoweredOff)
            {
                Test::CompareAddresses
            } else if [a, b].iter().any(|c| {
                matches!(
                    c,
                    Cause::WifiSignalWeak | Cause::DualInterface | Cause::BluetoothInterference
                )
            }) {
                Test::Cable
            } else if a.category() == Category::Upstream && b.category() == Category::Upstream {
                Test::StatusPage
            } else {
                Test::Hotspot
            }
        }
    };
    Some(text(test, lang).to_string())
}
