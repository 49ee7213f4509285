//! French titles and remedy steps of the cause catalogue.

use super::Cause::{self, *};

pub(super) fn text(c: Cause) -> (&'static str, &'static [&'static str]) {
    match c {
        ReaderPoweredOff => ("Le lecteur est éteint ou n'est pas alimenté", &[
            "Vérifiez que le lecteur est allumé et que son écran est allumé.",
            "Contrôlez le câble d'alimentation, la station d'accueil et la prise ; essayez une autre prise.",
            "Une fois démarré, attendez une minute qu'il se reconnecte.",
        ]),
        LocationNetworkDown => ("Le réseau ou la connexion Internet du magasin est coupé", &[
            "Regardez la box/le routeur du magasin : les voyants Internet et Wi-Fi sont-ils allumés ?",
            "Redémarrez le routeur (débranchez-le 30 secondes), puis attendez deux minutes.",
            "Si la ligne reste coupée, appelez votre fournisseur d'accès ; en attendant, un point d'accès mobile peut faire fonctionner une caisse.",
        ]),
        GatewayHostOffline => ("L'ordinateur qui fait tourner la caisse est hors ligne", &[
            "Reconnectez l'ordinateur de caisse/passerelle au réseau (câble branché, Wi-Fi connecté).",
            "Vérifiez qu'il a obtenu une adresse IPv4 et que d'autres sites s'ouvrent.",
        ]),
        Ipv4Missing => ("Le réseau ne distribue que des adresses IPv6", &[
            "Les terminaux de paiement ont besoin d'IPv4 : activez IPv4/DHCPv4 sur le routeur en plus d'IPv6.",
            "Redémarrez ensuite le lecteur pour qu'il obtienne une adresse IPv4.",
        ]),
        NotPrivateAddress => ("Le lecteur a une adresse publique au lieu d'une adresse locale", &[
            "Connectez le lecteur au réseau privé du magasin (derrière le routeur), pas directement au modem.",
            "Vérifiez le DHCP du routeur : il doit distribuer des adresses du type 192.168.x.x ou 10.x.x.x.",
        ]),
        DifferentSubnet => ("Le lecteur et la caisse sont sur des réseaux différents", &[
            "Placez la caisse et le lecteur sur le même réseau (même Wi-Fi ou même VLAN) ; un Wi-Fi invité est un autre réseau.",
            "Vérifiez sur l'écran réseau du lecteur que son adresse commence comme celle de la caisse.",
        ]),
        ClientIsolation => ("Le Wi-Fi isole les appareils les uns des autres", &[
            "Dans le routeur ou la borne Wi-Fi, désactivez « l'isolation AP »/« l'isolation des clients » pour le réseau du lecteur.",
            "N'utilisez pas de Wi-Fi invité pour les lecteurs : il isole les appareils volontairement.",
            "Vérifiez ensuite que la caisse joint le lecteur (ping de son adresse IP).",
        ]),
        DnsRebindBlocked => ("Le DNS du réseau bloque le nom des lecteurs locaux", &[
            "Configurez sur la caisse les serveurs DNS 1.1.1.1 et 1.0.0.1 (Cloudflare) ou 8.8.8.8 et 8.8.4.4 (Google).",
            "Ou ajoutez une exception pour stripe-terminal-local-reader.net dans la protection DNS rebind du routeur.",
            "Test : 10-42-42-42.test.device.stripe-terminal-local-reader.net doit être résolu en 10.42.42.42.",
        ]),
        DnsFailure => ("Les noms Internet ne peuvent pas être résolus (DNS)", &[
            "Vérifiez les serveurs DNS de l'ordinateur de caisse/passerelle ; essayez 1.1.1.1 ou 8.8.8.8.",
            "Si tous les appareils du magasin sont touchés, redémarrez le routeur.",
        ]),
        FirewallBlocksUpstream => ("Un pare-feu ou un filtre bloque l'accès au prestataire de paiement", &[
            "Autorisez dans le pare-feu le HTTPS sortant (port 443) vers les serveurs du prestataire de paiement.",
            "Exemptez ces serveurs de l'inspection TLS/HTTPS des proxys ou logiciels de sécurité.",
            "Pour confirmer, essayez le même ordinateur sur un point d'accès mobile.",
        ]),
        DhcpAddressChurn => ("Le lecteur change sans cesse d'adresse IP", &[
            "Donnez une adresse fixe au lecteur : une réservation DHCP dans le routeur pour son adresse MAC.",
            "Ou allongez la durée du bail DHCP à au moins une journée de travail entière.",
        ]),
        NetworkSessionLimit => ("Le réseau coupe les connexions au bout d'un temps fixe", &[
            "Portez la durée de session/d'inactivité du routeur, du pare-feu ou du hotspot à au moins une journée de travail.",
            "Les réseaux d'hôtels, de centres commerciaux et à portail captif le font souvent ; une ligne dédiée l'évite.",
        ]),
        DualInterface => ("Le lecteur utilise le Wi-Fi et le câble en même temps", &[
            "Utilisez soit le Wi-Fi, soit l'Ethernet, pas les deux : débranchez le câble ou coupez le Wi-Fi du lecteur.",
            "Une station d'accueil sans câble réseau convient pour la recharge.",
        ]),
        WifiSignalWeak => ("Le signal Wi-Fi du lecteur est trop faible", &[
            "Rapprochez le lecteur de la borne Wi-Fi, ou la borne du comptoir.",
            "Retirez les obstacles (étagères métalliques, réfrigérateurs, murs) entre les deux.",
            "Si possible, branchez plutôt le lecteur avec un câble Ethernet.",
        ]),
        BluetoothInterference => ("La liaison Bluetooth avec le lecteur est perturbée", &[
            "Gardez le lecteur près du téléphone ou de la tablette auquel il est appairé.",
            "Éloignez-vous des sources 2,4 GHz comme les fours à micro-ondes et les bornes Wi-Fi très chargées.",
            "Rechargez le lecteur ; une batterie faible rend la liaison moins stable.",
        ]),
        LinkUnstable => ("La liaison réseau du lecteur perd des paquets", &[
            "Vérifiez le câble et le port du switch du lecteur, ou sa borne Wi-Fi : changez le câble, essayez un autre port, rapprochez la borne.",
            "Cherchez un appareil du même réseau qui le sature (caméra, sauvegarde, switch défaillant) et séparez-le du réseau de paiement.",
            "Si la perte persiste, faites tester la ligne entre le lecteur et le routeur par l'installateur du réseau.",
        ]),
        NetworkCongestion => ("La ligne du magasin sature aux heures de pointe", &[
            "Donnez aux appareils de paiement leur propre réseau ou une priorité (VLAN/QoS) dans le routeur.",
            "Écartez le trafic lourd (Wi-Fi invité, vidéo, sauvegardes) du réseau de paiement ou hors des heures de pointe.",
            "Si cela continue, passez à une ligne Internet plus rapide.",
        ]),
        WifiUnsupported => ("Le lecteur ne peut pas rejoindre ce Wi-Fi", &[
            "Proposez aux lecteurs un réseau Wi-Fi 4/5 (2,4 ou 5 GHz, pas uniquement Wi-Fi 6/802.11ax).",
            "Utilisez WPA2 ou WPA3-Personnel avec un mot de passe.",
            "Ou branchez le lecteur avec un câble Ethernet.",
        ]),
        FirmwareOutdated => ("Le logiciel du lecteur n'est pas à jour", &[
            "Mettez à jour le logiciel du lecteur : laissez-le allumé et connecté ; les mises à jour s'installent pendant la fenêtre prévue ou après un redémarrage.",
            "Redémarrez-le une fois hors des heures d'ouverture pour lancer la mise à jour.",
        ]),
        ModelUnsupported => ("Ce modèle de lecteur n'est pas pris en charge", &[
            "Utilisez un modèle de lecteur pris en charge pour ce type de connexion.",
            "Consultez la liste des modèles pris en charge avant de commander d'autres appareils.",
        ]),
        ProtocolMismatch => ("Le terminal répond, mais pas dans le protocole attendu", &[
            "Passez le terminal en mode caisse (ECR, par exemple ZVT ou Caisse-AP) dans ses réglages.",
            "Vérifiez que le port configuré est le port caisse du terminal, pas un port de service ou web.",
        ]),
        WrongPort => ("Le port configuré du terminal est faux", &[
            "Corrigez le port du terminal dans tillgate : ZVT utilise souvent 20007 ou 20008, certains fabricants 22000 ou 5001 ; Caisse-AP 8888.",
            "Le menu réseau du terminal indique le port sur lequel il écoute.",
        ]),
        WrongAddress => ("L'adresse IP configurée du terminal est fausse", &[
            "Relevez l'adresse IP actuelle sur l'écran réseau du terminal et corrigez-la dans tillgate.",
            "Ajoutez ensuite une réservation DHCP pour que l'adresse ne change plus.",
        ]),
        TlsMismatch => ("La connexion sécurisée avec le terminal échoue", &[
            "Vérifiez le certificat et les réglages TLS du terminal (nom, émetteur, validité).",
            "Activez TLS 1.2 ou plus récent sur le terminal ; les versions plus anciennes sont refusées.",
        ]),
        ClockSkew => ("L'horloge de l'ordinateur n'est pas à l'heure", &[
            "Activez l'heure automatique (NTP) sur l'ordinateur de caisse/passerelle et sur le terminal.",
            "Vérifiez aussi le fuseau horaire ; les connexions sécurisées échouent quand l'horloge dérive de quelques minutes.",
        ]),
        InvalidApiKey => ("Le prestataire de paiement refuse la clé API", &[
            "Saisissez dans tillgate une clé secrète valide de ce compte (les clés de test et de production diffèrent).",
            "Si la clé a été renouvelée ou révoquée, créez-en une nouvelle dans le tableau de bord du prestataire.",
        ]),
        ReaderWrongAccount => ("Le lecteur appartient à un autre compte ou emplacement", &[
            "Enregistrez à nouveau le lecteur avec un nouveau code d'enregistrement, sur ce compte et cet emplacement.",
            "Vérifiez que la caisse utilise bien l'emplacement auquel le lecteur est rattaché.",
        ]),
        TerminalPasswordWrong => ("Le terminal refuse le mot de passe caisse", &[
            "Saisissez dans tillgate le mot de passe ECR du terminal (souvent 000000 ou fourni par l'acquéreur).",
            "Demandez-le à votre prestataire de paiement si vous ne le connaissez pas.",
        ]),
        TerminalNotActivated => ("Le terminal n'est pas encore activé", &[
            "Lancez l'activation/l'initialisation du terminal (souvent dans le menu de service) avec les données de votre acquéreur.",
            "Contactez votre acquéreur si l'activation elle-même échoue.",
        ]),
        TerminalBusyStuck => ("Le terminal est bloqué dans une opération inachevée", &[
            "Annulez l'opération en cours depuis la caisse.",
            "Si cela ne suffit pas, redémarrez le terminal, puis vérifiez le résultat de la dernière transaction avant d'encaisser à nouveau.",
        ]),
        GatewayOutdated => ("Le logiciel de caisse/passerelle est trop ancien", &[
            "Mettez à jour tillgate (ou le logiciel de caisse) vers la version exigée par le prestataire ou le terminal.",
        ]),
        UpstreamOutage => ("Le prestataire de paiement subit une panne", &[
            "Votre réseau n'est pas en cause : attendez le rétablissement et suivez la page d'état du prestataire.",
            "Acceptez en attendant des paiements hors ligne ou de secours si votre contrat le permet.",
        ]),
        UpstreamMaintenance => ("Le prestataire ou l'acquéreur est en maintenance", &[
            "Attendez la fin de la maintenance, puis réessayez.",
            "Consultez les annonces du prestataire pour connaître la fenêtre de maintenance.",
        ]),
        HostUnreachableFromTerminal => ("Le terminal ne joint pas son serveur de paiement", &[
            "Le terminal fonctionne sur le réseau du magasin mais ne sort pas : vérifiez sa passerelle, son DNS et le pare-feu.",
            "Si son accès Internet est correct, contactez l'acquéreur : son serveur ne l'accepte peut-être pas.",
        ]),
        Overheating => ("Le terminal surchauffe", &[
            "Éloignez le terminal des sources de chaleur : soleil, lampes, fours, radiateurs.",
            "Laissez de l'air autour ; ne le couvrez pas et ne l'enfermez pas.",
        ]),
        PowerUnstable => ("L'alimentation électrique du terminal est instable", &[
            "Utilisez le bloc d'alimentation d'origine ou un autre ; remplacez chargeurs et câbles usés.",
            "Branchez le terminal sur une prise non partagée avec de gros appareils.",
        ]),
        BatteryLow => ("La batterie du lecteur est faible", &[
            "Rechargez le lecteur maintenant et posez-le sur sa base entre deux ventes.",
            "S'il se décharge vite, la batterie est peut-être à remplacer.",
        ]),
        HardwareFault => ("Le terminal signale une panne matérielle", &[
            "Redémarrez le terminal une fois ; si la panne persiste, faites-le remplacer par votre prestataire.",
        ]),
        OperatorError => ("Une modification récente des réglages a coupé la connexion", &[
            "Annulez ou corrigez la dernière modification des réglages de ce terminal ; le journal d'audit indique qui a changé quoi et quand.",
            "Revérifiez les adresses IP, ports et mots de passe saisis.",
        ]),
        CaisseApWrongPort => ("Le port Caisse-AP du terminal est incorrect", &[
            "Relevez le port caisse du terminal dans son menu réseau ou « connexion caisse » et corrigez-le dans le code d'enregistrement (caisse-ap://HÔTE:PORT) ; les terminaux Caisse-AP écoutent par défaut sur le port 8888.",
            "Vérifiez que l'adresse est bien celle du terminal de paiement et non d'un autre appareil (imprimante, routeur, PC) qui répond sur ce port.",
        ]),
        CaisseApNotInCaisseMode => ("Le terminal n'est pas en mode caisse", &[
            "Sur le terminal, activez la connexion caisse : dans le menu gestionnaire, choisissez « connexion caisse » / ECR sur IP (Ethernet ou Wi-Fi) avec le protocole Caisse-AP / Concert V3.",
            "Sur les terminaux Ingenico France, l'application caisse s'appelle « CONCERT V3 » ; un terminal en mode autonome accepte la connexion mais ne répond jamais.",
            "Redémarrez le terminal après le changement de mode, puis relancez le diagnostic.",
        ]),
        CaisseApProtocolRefused => ("Le terminal refuse le format ou la version de la demande Caisse-AP", &[
            "Indiquez dans le code d'enregistrement la version du protocole du terminal : version=0300, 0310 ou 0320.",
            "Certains terminaux attendent CR/LF après chaque demande, d'autres le refusent : inversez crlf=true dans le code d'enregistrement.",
        ]),
        CaisseApActionUnsupported => ("Le terminal ne connaît pas une action envoyée par tillgate", &[
            "Si l'action refusée est l'identification (CD=I), enregistrez le terminal sans probe=identify : la sonde TCP ne demande rien au terminal.",
            "Si c'est l'annulation (CD=2), enregistrez-le avec cancel=false ; les remboursements partent alors en crédit.",
            "Demandez au fournisseur du terminal d'activer cette action Caisse-AP (ou de mettre à jour l'application caisse).",
        ]),
        CaisseApCurrencyUnsupported => ("Le terminal n'accepte pas la devise du paiement", &[
            "Enregistrez le terminal avec la devise pour laquelle il est paramétré (currency=eur, currency=xpf ou le numéro ISO 4217).",
            "Si le terminal doit accepter cette devise, demandez à l'acquéreur de l'activer.",
        ]),
    }
}
