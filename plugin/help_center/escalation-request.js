/*
 * Escalation requests for Zendesk: "Escalate this request" on a Help Center request page.
 *
 * Plain JavaScript for a Zendesk Help Center theme: no build step, no dependencies. The snippet
 * in request_page.hbs renders a hidden <section data-escalation-request> holding the request's
 * id, the Help Center locale and the account's settings (written by `escalations package-theme`).
 * This script reads the signed-in user and the request through Zendesk's API with the Help Center
 * session, offers the form to the people the escalation policy allows, and adds the customer's
 * comment, with the phrase and their reason, through the Requests API as that customer. The
 * escalation service then handles the comment like any other; nothing here decides an escalation.
 *
 * EscalationRequest.* is the pure part (data in, data out: which view, which words); the rest
 * talks to the page and the API. Everything shown is set as text, never as HTML.
 */
(function () {
  'use strict';

  var STATUS_PREFIX = 'escalation_status_';
  var MIN_REASON_LENGTH = 10;
  var MAX_REASON_LENGTH = 4000; // the service records at most this much of a reason
  var WATCH_EVERY_MS = 2000;
  var WATCH_FOR_MS = 120000;
  var DEFAULT_PHRASE = 'escalation request';
  var LOCALES = ['en', 'de', 'fr', 'es', 'pt-BR', 'ja'];

  // The service's policy in the customer's words: who reviews, how soon, what it does not do, once only.
  var TEXTS = {
    en: {
      action: 'Escalate this request',
      about: [
        'An escalation asks a Support Manager, not the engineer working on your case, to review it and contact you.',
        'The first response typically comes within 24 hours on weekdays. An escalation does not by itself make the resolution faster.',
        'A case can be escalated only once. For an update, or to ask for a higher severity, add a comment instead.'
      ],
      reasonLabel: 'Why should this case be escalated?',
      reasonHint: 'Describe the impact on your business (at least {min} characters).',
      contactLabel: 'New contact details for the Support Manager (optional)',
      contactHint: 'An email address or phone number, if the manager should reach you another way than the contact details on this case.',
      submit: 'Escalate',
      cancel: 'Cancel',
      sending: 'Sending…',
      reasonTooShort: 'Please give a reason of at least {min} characters.',
      contactInvalid: 'Please enter an email address or a phone number, or leave this field empty.',
      sessionExpired: 'Your session has expired. Reload the page and try again.',
      notUpdatable: 'This request can no longer be updated.',
      failed: 'The escalation could not be sent. Try again, or add a comment with the words “{phrase}” and your reason.',
      requested: 'Escalation requested',
      requestedBody: 'Thank you. A Support Manager will review your case and contact you. The details appear here once they are recorded.',
      yourReason: 'Your reason',
      slow: 'The escalation is still being recorded; reload this page in a minute to see it.',
      escalated: 'This request is escalated',
      labels: { status: 'Status', requestedAt: 'Requested', responseDue: 'First response due', acknowledgedAt: 'Acknowledged', resolvedAt: 'Resolved' },
      statuses: { requested: 'Waiting for a Support Manager', acknowledged: 'A Support Manager is on it', resolved: 'Resolved' },
      onceOnly: 'A case can be escalated only once. For an update, add a comment to this request; if the impact on your business has grown, ask for a higher severity in a comment and describe the impact.',
      solved: 'This request is solved. If the problem is not, escalating it reopens the request.',
      closed: 'This request is closed and can no longer be escalated or updated. If you still need help, open a new request: a follow-up is a new case.',
      newRequest: 'Open a new request',
      requesterOnly: 'Only the person who opened this request can escalate it. You can add a comment instead.',
      contactLine: 'New contact details'
    },
    de: {
      action: 'Diese Anfrage eskalieren',
      about: [
        'Mit einer Eskalation bitten Sie einen Support-Manager – nicht die Person, die Ihren Fall bearbeitet –, den Fall zu prüfen und sich mit Ihnen in Verbindung zu setzen.',
        'Die erste Rückmeldung erhalten Sie in der Regel innerhalb von 24 Stunden an Arbeitstagen. Allein durch die Eskalation wird die Lösung nicht schneller.',
        'Ein Fall kann nur einmal eskaliert werden. Für einen Zwischenstand oder einen höheren Schweregrad schreiben Sie stattdessen einen Kommentar.'
      ],
      reasonLabel: 'Warum soll dieser Fall eskaliert werden?',
      reasonHint: 'Beschreiben Sie die Auswirkungen auf Ihr Geschäft (mindestens {min} Zeichen).',
      contactLabel: 'Neue Kontaktdaten für den Support-Manager (optional)',
      contactHint: 'Eine E-Mail-Adresse oder Telefonnummer, falls der Support-Manager Sie anders als über die Kontaktdaten in diesem Fall erreichen soll.',
      submit: 'Eskalieren',
      cancel: 'Abbrechen',
      sending: 'Wird gesendet …',
      reasonTooShort: 'Bitte geben Sie einen Grund mit mindestens {min} Zeichen an.',
      contactInvalid: 'Bitte geben Sie eine E-Mail-Adresse oder Telefonnummer ein oder lassen Sie das Feld leer.',
      sessionExpired: 'Ihre Sitzung ist abgelaufen. Laden Sie die Seite neu und versuchen Sie es noch einmal.',
      notUpdatable: 'Diese Anfrage kann nicht mehr geändert werden.',
      failed: 'Die Eskalation konnte nicht gesendet werden. Versuchen Sie es noch einmal oder schreiben Sie einen Kommentar mit den Worten „{phrase}“ und Ihrem Grund.',
      requested: 'Eskalation angefordert',
      requestedBody: 'Vielen Dank. Ein Support-Manager prüft Ihren Fall und setzt sich mit Ihnen in Verbindung. Die Einzelheiten erscheinen hier, sobald sie erfasst sind.',
      yourReason: 'Ihr Grund',
      slow: 'Die Eskalation wird noch erfasst. Laden Sie die Seite in einer Minute neu, um sie zu sehen.',
      escalated: 'Diese Anfrage ist eskaliert',
      labels: { status: 'Status', requestedAt: 'Angefordert', responseDue: 'Erste Rückmeldung bis', acknowledgedAt: 'Übernommen', resolvedAt: 'Abgeschlossen' },
      statuses: { requested: 'Wartet auf einen Support-Manager', acknowledged: 'Ein Support-Manager kümmert sich darum', resolved: 'Abgeschlossen' },
      onceOnly: 'Ein Fall kann nur einmal eskaliert werden. Für einen Zwischenstand schreiben Sie einen Kommentar zu dieser Anfrage; wenn die Auswirkungen auf Ihr Geschäft zugenommen haben, bitten Sie in einem Kommentar um einen höheren Schweregrad und beschreiben Sie die Auswirkungen.',
      solved: 'Diese Anfrage ist gelöst. Wenn das Problem weiterbesteht, wird sie durch die Eskalation wieder geöffnet.',
      closed: 'Diese Anfrage ist geschlossen und kann nicht mehr eskaliert oder geändert werden. Wenn Sie weiterhin Hilfe brauchen, stellen Sie eine neue Anfrage: Eine Folgeanfrage ist ein neuer Fall.',
      newRequest: 'Neue Anfrage stellen',
      requesterOnly: 'Nur die Person, die diese Anfrage gestellt hat, kann sie eskalieren. Sie können stattdessen einen Kommentar schreiben.',
      contactLine: 'Neue Kontaktdaten'
    },
    fr: {
      action: 'Escalader cette demande',
      about: [
        'Une escalade demande à un responsable du support, et non à la personne qui traite votre dossier, de l’examiner et de prendre contact avec vous.',
        'Le premier retour intervient généralement sous 24 heures, en jours ouvrés. Une escalade n’accélère pas à elle seule la résolution.',
        'Un dossier ne peut être escaladé qu’une seule fois. Pour un point d’avancement ou un niveau de gravité plus élevé, ajoutez plutôt un commentaire.'
      ],
      reasonLabel: 'Pourquoi ce dossier doit-il être escaladé\u00a0?',
      reasonHint: 'Décrivez l’impact sur votre activité (au moins {min} caractères).',
      contactLabel: 'Nouvelles coordonnées pour le responsable du support (facultatif)',
      contactHint: 'Une adresse e-mail ou un numéro de téléphone, si le responsable doit vous joindre autrement que par les coordonnées de ce dossier.',
      submit: 'Escalader',
      cancel: 'Annuler',
      sending: 'Envoi…',
      reasonTooShort: 'Indiquez une raison d’au moins {min} caractères.',
      contactInvalid: 'Saisissez une adresse e-mail ou un numéro de téléphone, ou laissez ce champ vide.',
      sessionExpired: 'Votre session a expiré. Rechargez la page et réessayez.',
      notUpdatable: 'Cette demande ne peut plus être modifiée.',
      failed: 'L’escalade n’a pas pu être envoyée. Réessayez, ou ajoutez un commentaire contenant les mots «\u00a0{phrase}\u00a0» et votre raison.',
      requested: 'Escalade demandée',
      requestedBody: 'Merci. Un responsable du support va examiner votre dossier et prendre contact avec vous. Les détails s’afficheront ici dès qu’ils seront enregistrés.',
      yourReason: 'Votre raison',
      slow: 'L’escalade est en cours d’enregistrement\u00a0; rechargez cette page dans une minute pour la voir.',
      escalated: 'Cette demande est escaladée',
      labels: { status: 'Statut', requestedAt: 'Demandée', responseDue: 'Premier retour attendu', acknowledgedAt: 'Prise en charge', resolvedAt: 'Résolue' },
      statuses: { requested: 'En attente d’un responsable du support', acknowledged: 'Prise en charge par un responsable du support', resolved: 'Résolue' },
      onceOnly: 'Un dossier ne peut être escaladé qu’une seule fois. Pour un point d’avancement, ajoutez un commentaire à cette demande\u00a0; si l’impact sur votre activité s’est aggravé, demandez dans un commentaire un niveau de gravité plus élevé en décrivant cet impact.',
      solved: 'Cette demande est résolue. Si le problème persiste, l’escalade la rouvre.',
      closed: 'Cette demande est clôturée et ne peut plus être escaladée ni modifiée. Si vous avez encore besoin d’aide, ouvrez une nouvelle demande\u00a0: un suivi est un nouveau dossier.',
      newRequest: 'Ouvrir une nouvelle demande',
      requesterOnly: 'Seule la personne qui a ouvert cette demande peut l’escalader. Vous pouvez ajouter un commentaire à la place.',
      contactLine: 'Nouvelles coordonnées'
    },
    es: {
      action: 'Escalar esta solicitud',
      about: [
        'Al escalar, pide que un responsable de soporte, y no la persona que trabaja en su caso, lo revise y se ponga en contacto con usted.',
        'La primera respuesta suele llegar en un plazo de 24 horas en días laborables. Escalar no acelera por sí solo la resolución.',
        'Un caso solo puede escalarse una vez. Para pedir una actualización o un nivel de gravedad más alto, añada un comentario en su lugar.'
      ],
      reasonLabel: '¿Por qué debe escalarse este caso?',
      reasonHint: 'Describa el impacto en su negocio (al menos {min} caracteres).',
      contactLabel: 'Nuevos datos de contacto para el responsable de soporte (opcional)',
      contactHint: 'Una dirección de correo electrónico o un número de teléfono, si el responsable debe contactarle por otro medio que los datos de este caso.',
      submit: 'Escalar',
      cancel: 'Cancelar',
      sending: 'Enviando…',
      reasonTooShort: 'Indique un motivo de al menos {min} caracteres.',
      contactInvalid: 'Indique una dirección de correo electrónico o un número de teléfono, o deje este campo vacío.',
      sessionExpired: 'Su sesión ha caducado. Vuelva a cargar la página e inténtelo de nuevo.',
      notUpdatable: 'Esta solicitud ya no se puede modificar.',
      failed: 'No se pudo enviar la escalación. Inténtelo de nuevo o añada un comentario con las palabras «{phrase}» y su motivo.',
      requested: 'Escalación solicitada',
      requestedBody: 'Gracias. Un responsable de soporte revisará su caso y se pondrá en contacto con usted. Los detalles aparecerán aquí en cuanto se registren.',
      yourReason: 'Su motivo',
      slow: 'La escalación se está registrando; vuelva a cargar esta página dentro de un minuto para verla.',
      escalated: 'Esta solicitud está escalada',
      labels: { status: 'Estado', requestedAt: 'Solicitada', responseDue: 'Primera respuesta prevista', acknowledgedAt: 'Atendida', resolvedAt: 'Resuelta' },
      statuses: { requested: 'A la espera de un responsable de soporte', acknowledged: 'Un responsable de soporte se está ocupando', resolved: 'Resuelta' },
      onceOnly: 'Un caso solo puede escalarse una vez. Para pedir una actualización, añada un comentario a esta solicitud; si el impacto en su negocio ha aumentado, solicite en un comentario un nivel de gravedad más alto y describa el impacto.',
      solved: 'Esta solicitud está resuelta. Si el problema continúa, escalarla la vuelve a abrir.',
      closed: 'Esta solicitud está cerrada y ya no se puede escalar ni modificar. Si todavía necesita ayuda, abra una nueva solicitud: un seguimiento es un caso nuevo.',
      newRequest: 'Abrir una nueva solicitud',
      requesterOnly: 'Solo la persona que abrió esta solicitud puede escalarla. Puede añadir un comentario en su lugar.',
      contactLine: 'Nuevos datos de contacto'
    },
    'pt-BR': {
      action: 'Escalar esta solicitação',
      about: [
        'Ao escalar, você pede que um gerente de suporte, e não a pessoa que está atendendo seu chamado, analise o chamado e entre em contato com você.',
        'A primeira resposta normalmente chega em até 24 horas, contando apenas os dias úteis. Escalar não acelera, por si só, a solução.',
        'Um chamado só pode ser escalado uma vez. Para pedir uma atualização ou uma severidade mais alta, adicione um comentário.'
      ],
      reasonLabel: 'Por que este chamado deve ser escalado?',
      reasonHint: 'Descreva o impacto no seu negócio (pelo menos {min} caracteres).',
      contactLabel: 'Novos dados de contato para o gerente de suporte (opcional)',
      contactHint: 'Um e-mail ou número de telefone, se o gerente deve falar com você de outra forma que não pelos dados de contato deste chamado.',
      submit: 'Escalar',
      cancel: 'Cancelar',
      sending: 'Enviando…',
      reasonTooShort: 'Informe um motivo com pelo menos {min} caracteres.',
      contactInvalid: 'Informe um e-mail ou um número de telefone, ou deixe este campo em branco.',
      sessionExpired: 'Sua sessão expirou. Recarregue a página e tente novamente.',
      notUpdatable: 'Esta solicitação não pode mais ser atualizada.',
      failed: 'Não foi possível enviar a escalação. Tente novamente ou adicione um comentário com as palavras “{phrase}” e o seu motivo.',
      requested: 'Escalação solicitada',
      requestedBody: 'Obrigado. Um gerente de suporte vai analisar seu chamado e entrar em contato com você. Os detalhes aparecem aqui assim que forem registrados.',
      yourReason: 'Seu motivo',
      slow: 'A escalação ainda está sendo registrada; recarregue esta página em um minuto para vê-la.',
      escalated: 'Esta solicitação está escalada',
      labels: { status: 'Status', requestedAt: 'Solicitada', responseDue: 'Primeira resposta prevista', acknowledgedAt: 'Assumida', resolvedAt: 'Resolvida' },
      statuses: { requested: 'Aguardando um gerente de suporte', acknowledged: 'Um gerente de suporte está cuidando dela', resolved: 'Resolvida' },
      onceOnly: 'Um chamado só pode ser escalado uma vez. Para pedir uma atualização, adicione um comentário a esta solicitação; se o impacto no seu negócio aumentou, peça em um comentário uma severidade mais alta e descreva o impacto.',
      solved: 'Esta solicitação está resolvida. Se o problema continuar, escalá-la vai reabri-la.',
      closed: 'Esta solicitação está encerrada e não pode mais ser escalada nem atualizada. Se ainda precisar de ajuda, abra uma nova solicitação: um acompanhamento é um novo chamado.',
      newRequest: 'Abrir uma nova solicitação',
      requesterOnly: 'Somente a pessoa que abriu esta solicitação pode escalá-la. Você pode adicionar um comentário.',
      contactLine: 'Novos dados de contato'
    },
    ja: {
      action: 'このリクエストをエスカレーションする',
      about: [
        'エスカレーションすると、現在本件を担当しているエンジニアではなく、サポートマネージャーが内容を確認し、お客様にご連絡いたします。',
        '初回のご連絡は通常、24時間以内（平日のみで計算）に差し上げます。エスカレーションだけで解決が早まるものではございません。',
        'エスカレーションは1件につき1回のみです。進捗の確認や重大度の引き上げをご希望の場合は、コメントでお知らせください。'
      ],
      reasonLabel: 'エスカレーションの理由',
      reasonHint: 'ビジネスへの影響をご記入ください（{min}文字以上）。',
      contactLabel: 'サポートマネージャーへの新しい連絡先（任意）',
      contactHint: '本件に登録されている連絡先以外でのご連絡をご希望の場合は、メールアドレスまたは電話番号をご記入ください。',
      submit: 'エスカレーションする',
      cancel: 'キャンセル',
      sending: '送信しています…',
      reasonTooShort: '理由を{min}文字以上でご記入ください。',
      contactInvalid: 'メールアドレスまたは電話番号を入力するか、空欄のままにしてください。',
      sessionExpired: 'セッションの有効期限が切れました。ページを再読み込みして、もう一度お試しください。',
      notUpdatable: 'このリクエストは更新できなくなりました。',
      failed: 'エスカレーションを送信できませんでした。もう一度お試しいただくか、「{phrase}」という語句と理由をコメントでお知らせください。',
      requested: 'エスカレーションを受け付けました',
      requestedBody: 'ありがとうございます。サポートマネージャーが本件を確認し、お客様にご連絡いたします。詳細は記録され次第、ここに表示されます。',
      yourReason: 'ご記入いただいた理由',
      slow: 'エスカレーションを記録しています。1分ほどしてからページを再読み込みしてください。',
      escalated: 'このリクエストはエスカレーション済みです',
      labels: { status: 'ステータス', requestedAt: '受付日時', responseDue: '初回連絡の目安', acknowledgedAt: '対応開始日時', resolvedAt: '解決日時' },
      statuses: { requested: 'サポートマネージャーの対応待ち', acknowledged: 'サポートマネージャーが対応中', resolved: '解決済み' },
      onceOnly: 'エスカレーションは1件につき1回のみです。進捗を確認されたい場合は、このリクエストにコメントを追加してください。ビジネスへの影響が大きくなった場合は、コメントで影響の内容をお知らせのうえ、重大度の引き上げをお申し付けください。',
      solved: 'このリクエストは解決済みです。問題が解決していない場合は、エスカレーションするとリクエストが再オープンされます。',
      closed: 'このリクエストはクローズされているため、エスカレーションや更新はできません。引き続きサポートが必要な場合は、新しいリクエストを送信してください（フォローアップは新しい案件として扱われます）。',
      newRequest: '新しいリクエストを送信',
      requesterOnly: 'このリクエストをエスカレーションできるのは、リクエストを送信したご本人のみです。代わりにコメントを追加できます。',
      contactLine: '新しい連絡先'
    }
  };

  // The shapes the service finds in a comment (plugin/text.py), so that what the form accepts is
  // what the Support Manager is told about; a phone number may open with "(" before its first digit.
  var EMAIL = /^[\w.+-]+@[\w-]+(\.[\w-]+)+$/u;
  var PHONE = /^(\+|\()?\d[\d\s().-]{6,}\d$/;

  // -- the pure part --------------------------------------------------------------------------

  /** The locale of the texts for a Help Center locale ("pt-br", "de-at", "en-us"): exact, language, English. */
  function localeFor(helpCenterLocale) {
    var wanted = String(helpCenterLocale || '').toLowerCase().replace('_', '-');
    var exact = LOCALES.filter(function (locale) { return locale.toLowerCase() === wanted; })[0];
    if (exact) return exact;
    var language = wanted.split('-')[0];
    var sameLanguage = LOCALES.filter(function (locale) { return locale.split('-')[0] === language; })[0];
    return sameLanguage || 'en';
  }

  /** The phrase the service listens for in this locale, as `escalations package-theme` wrote it. */
  function phraseFor(config, locale) {
    var phrases = (config && config.phrases) || {};
    return phrases[locale] || phrases.en || DEFAULT_PHRASE;
  }

  /** The customer's comment: the phrase, their reason as written, and new contact details if given. */
  function commentFor(config, locale, reason, contact) {
    var texts = TEXTS[locale] || TEXTS.en;
    var phrase = phraseFor(config, locale);
    var body = phrase.charAt(0).toLocaleUpperCase(locale) + phrase.slice(1) + ': ' + String(reason).trim();
    var details = String(contact || '').trim();
    if (details) body += '\n\n' + texts.contactLine + ': ' + details;
    return body;
  }

  /** What is wrong with the form's values, as a text key, or '' when they can be sent. */
  function formProblem(reason, contact) {
    if (String(reason || '').trim().length < MIN_REASON_LENGTH) return 'reasonTooShort';
    var details = String(contact || '').trim();
    if (!details || EMAIL.test(details)) return '';
    var digits = details.replace(/\D/g, '').length;
    return PHONE.test(details) && digits >= 7 && digits <= 15 ? '' : 'contactInvalid';
  }

  /** The escalation recorded on a request, from the customer-visible fields, or null when there is none. */
  function escalationOf(request, fields) {
    var values = {};
    (request.custom_fields || []).forEach(function (item) { values[item.id] = item.value; });
    var status = values[fields.status];
    if (status === null || status === undefined || status === '') return null;
    status = String(status);
    return {
      status: status.indexOf(STATUS_PREFIX) === 0 ? status.slice(STATUS_PREFIX.length) : status,
      requestedAt: values[fields.requested_at] || null,
      responseDue: values[fields.response_due] || null,
      acknowledgedAt: values[fields.acknowledged_at] || null,
      resolvedAt: values[fields.resolved_at] || null
    };
  }

  /**
   * What the signed-in user sees: 'offer' (the action and its form), 'escalated' (the recorded state),
   * 'closed', 'requester_only' (a copied end-user where only the requester may escalate) or 'none'
   * (agents, and anyone not on the request). The same rules as the service's policy.
   */
  function viewFor(request, user, config) {
    if (!request || !user || user.role !== 'end-user') return 'none';
    var isRequester = user.id === request.requester_id;
    var copied = (request.email_cc_ids || []).concat(request.collaborator_ids || []);
    if (!isRequester && copied.indexOf(user.id) === -1) return 'none';
    if (escalationOf(request, config.fields)) return 'escalated';
    if (request.status === 'closed') return 'closed';
    if (!isRequester && config.requesterOnly) return 'requester_only';
    return 'offer';
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  // -- the page ---------------------------------------------------------------------------------

  var counter = 0;

  function element(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === true) node.setAttribute(name, '');
      else if (value !== false && value !== null && value !== undefined) node.setAttribute(name, String(value));
    });
    (children || []).forEach(function (child) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function formatTime(value, helpCenterLocale) {
    var moment = new Date(value);
    if (isNaN(moment.getTime())) return String(value);
    try {
      return new Intl.DateTimeFormat(helpCenterLocale, { dateStyle: 'medium', timeStyle: 'short' }).format(moment);
    } catch (error) {
      return moment.toLocaleString();
    }
  }

  function api(path, options) {
    var settings = Object.assign({ credentials: 'same-origin' }, options || {});
    settings.headers = Object.assign({ Accept: 'application/json' }, settings.headers || {});
    return fetch(path, settings);
  }

  function readJson(path) {
    return api(path).then(function (response) {
      if (!response.ok) throw new Error(path + ' answered ' + response.status);
      return response.json();
    });
  }

  function Widget(section) {
    this.section = section;
    this.requestId = section.getAttribute('data-request-id');
    this.helpCenterLocale = section.getAttribute('data-locale') || 'en-us';
    this.locale = localeFor(this.helpCenterLocale);
    this.texts = TEXTS[this.locale];
    var data = section.querySelector('script[data-escalation-request-config]');
    this.config = JSON.parse(data ? data.textContent : '{}');
    this.requestPath = '/api/v2/requests/' + encodeURIComponent(this.requestId) + '.json';
  }

  Widget.prototype.start = function () {
    var widget = this;
    return Promise.all([readJson('/api/v2/users/me.json'), readJson(this.requestPath)]).then(function (answers) {
      widget.user = answers[0].user;
      widget.show(answers[1].request);
    }, function () {
      // Not signed in, not on this request, or the API is unavailable: the page stays as the theme made it.
    });
  };

  Widget.prototype.show = function (request) {
    var view = viewFor(request, this.user, this.config);
    var panel;
    if (view === 'offer') panel = this.offer(request);
    else if (view === 'escalated') panel = this.escalated(request);
    else if (view === 'closed') panel = this.closed();
    else if (view === 'requester_only') panel = element('p', {}, [this.texts.requesterOnly]);
    this.replace(view, panel);
  };

  Widget.prototype.replace = function (view, panel) {
    this.section.querySelectorAll(':scope > :not(script)').forEach(function (node) { node.remove(); });
    this.section.setAttribute('data-escalation-view', view);
    if (!panel) {
      this.section.hidden = true;
      return;
    }
    this.section.append(panel);
    this.section.hidden = false;
  };

  Widget.prototype.offer = function (request) {
    var texts = this.texts;
    var widget = this;
    var id = 'escalation-request-' + (++counter);
    var open = element('button', { type: 'button', class: 'escalation-request__open', 'aria-expanded': 'false', 'aria-controls': id }, [texts.action]);
    var reason = element('textarea', {
      id: id + '-reason', name: 'reason', rows: 5, maxlength: MAX_REASON_LENGTH, required: true,
      'aria-describedby': id + '-reason-hint'
    });
    var contact = element('input', {
      id: id + '-contact', name: 'contact', type: 'text', autocomplete: 'email', maxlength: 200,
      'aria-describedby': id + '-contact-hint'
    });
    var problem = element('p', { class: 'escalation-request__problem', role: 'alert' });
    var submit = element('button', { type: 'submit', class: 'escalation-request__submit' }, [texts.submit]);
    var cancel = element('button', { type: 'button', class: 'escalation-request__cancel' }, [texts.cancel]);
    var form = element('form', { id: id, class: 'escalation-request__form', novalidate: true, hidden: true, 'aria-labelledby': id + '-title' }, [
      element('h2', { id: id + '-title', class: 'escalation-request__title' }, [texts.action]),
      element('div', { class: 'escalation-request__about' }, texts.about.map(function (line) { return element('p', {}, [line]); })),
      element('label', { for: reason.id }, [texts.reasonLabel]),
      element('p', { id: id + '-reason-hint', class: 'escalation-request__hint' }, [fill(texts.reasonHint, { min: MIN_REASON_LENGTH })]),
      reason,
      element('label', { for: contact.id }, [texts.contactLabel]),
      element('p', { id: id + '-contact-hint', class: 'escalation-request__hint' }, [texts.contactHint]),
      contact,
      problem,
      element('div', { class: 'escalation-request__actions' }, [submit, cancel])
    ]);
    open.addEventListener('click', function () {
      form.hidden = false;
      open.hidden = true;
      open.setAttribute('aria-expanded', 'true');
      reason.focus();
    });
    cancel.addEventListener('click', function () {
      form.hidden = true;
      open.hidden = false;
      open.setAttribute('aria-expanded', 'false');
      open.focus();
    });
    form.addEventListener('input', function () {
      problem.textContent = '';
      reason.removeAttribute('aria-invalid');
      contact.removeAttribute('aria-invalid');
    });
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var key = formProblem(reason.value, contact.value);
      reason.setAttribute('aria-invalid', String(key === 'reasonTooShort'));
      contact.setAttribute('aria-invalid', String(key === 'contactInvalid'));
      problem.textContent = key ? fill(texts[key], { min: MIN_REASON_LENGTH }) : '';
      if (key) {
        (key === 'reasonTooShort' ? reason : contact).focus();
        return;
      }
      submit.disabled = true;
      submit.textContent = texts.sending;
      widget.send(reason.value, contact.value).then(function (refusal) {
        if (!refusal) return;
        problem.textContent = refusal;
        submit.disabled = false;
        submit.textContent = texts.submit;
      });
    });
    var children = [open, form];
    if (request.status === 'solved') children.unshift(element('p', { class: 'escalation-request__note' }, [texts.solved]));
    return element('div', { class: 'escalation-request__panel' }, children);
  };

  /** Add the comment as the signed-in customer; resolves to a refusal to show, or '' once sent. */
  Widget.prototype.send = function (reason, contact) {
    var widget = this;
    var texts = this.texts;
    var body = commentFor(this.config, this.locale, reason, contact);
    // A fresh token for the write, as Zendesk documents: the session's CSRF token from users/me.
    return readJson('/api/v2/users/me.json').then(function (answer) {
      return api(widget.requestPath, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': answer.user.authenticity_token || '' },
        body: JSON.stringify({ request: { comment: { body: body } } })
      });
    }).then(function (response) {
      if (response.ok) {
        widget.requested(reason.trim());
        return '';
      }
      if (response.status === 401 || response.status === 403) return texts.sessionExpired;
      if (response.status === 404 || response.status === 422) return texts.notUpdatable;
      return fill(texts.failed, { phrase: phraseFor(widget.config, widget.locale) });
    }, function () {
      return fill(texts.failed, { phrase: phraseFor(widget.config, widget.locale) });
    });
  };

  /** Sent: say so, then show the recorded state once the service has applied it. */
  Widget.prototype.requested = function (reason) {
    var texts = this.texts;
    var panel = element('div', { class: 'escalation-request__panel' }, [
      element('h2', { class: 'escalation-request__title', tabindex: '-1' }, [texts.requested]),
      element('p', {}, [texts.requestedBody]),
      element('p', { class: 'escalation-request__label' }, [texts.yourReason]),
      element('blockquote', { class: 'escalation-request__reason' }, [reason])
    ]);
    this.replace('requested', panel);
    panel.querySelector('h2').focus();
    this.watch(Date.now() + WATCH_FOR_MS, panel);
  };

  Widget.prototype.watch = function (until, panel) {
    var widget = this;
    window.setTimeout(function () {
      readJson(widget.requestPath).then(function (answer) {
        if (escalationOf(answer.request, widget.config.fields)) widget.show(answer.request);
        else widget.keepWatching(until, panel);
      }, function () {
        widget.keepWatching(until, panel);
      });
    }, WATCH_EVERY_MS);
  };

  Widget.prototype.keepWatching = function (until, panel) {
    if (Date.now() < until) this.watch(until, panel);
    else panel.append(element('p', { class: 'escalation-request__note' }, [this.texts.slow]));
  };

  Widget.prototype.escalated = function (request) {
    var texts = this.texts;
    var locale = this.helpCenterLocale;
    var escalation = escalationOf(request, this.config.fields);
    var facts = element('dl', { class: 'escalation-request__facts' });
    function fact(label, value) {
      if (value) facts.append(element('dt', {}, [label]), element('dd', {}, [value]));
    }
    fact(texts.labels.status, texts.statuses[escalation.status] || escalation.status);
    fact(texts.labels.requestedAt, escalation.requestedAt && formatTime(escalation.requestedAt, locale));
    if (escalation.status === 'requested') fact(texts.labels.responseDue, escalation.responseDue && formatTime(escalation.responseDue, locale));
    fact(texts.labels.acknowledgedAt, escalation.acknowledgedAt && formatTime(escalation.acknowledgedAt, locale));
    fact(texts.labels.resolvedAt, escalation.resolvedAt && formatTime(escalation.resolvedAt, locale));
    return element('div', { class: 'escalation-request__panel' }, [
      element('h2', { class: 'escalation-request__title' }, [texts.escalated]),
      facts,
      request.status === 'closed' ? this.closed() : element('p', {}, [texts.onceOnly])
    ]);
  };

  Widget.prototype.closed = function () {
    var link = element('a', { href: '/hc/' + encodeURIComponent(this.helpCenterLocale) + '/requests/new' }, [this.texts.newRequest]);
    return element('div', { class: 'escalation-request__closed' }, [element('p', {}, [this.texts.closed]), element('p', {}, [link])]);
  };

  window.EscalationRequest = Object.freeze({
    LOCALES: LOCALES.slice(),
    MIN_REASON_LENGTH: MIN_REASON_LENGTH,
    localeFor: localeFor,
    phraseFor: phraseFor,
    commentFor: commentFor,
    formProblem: formProblem,
    escalationOf: escalationOf,
    viewFor: viewFor,
    texts: function (locale) { return TEXTS[localeFor(locale)]; }
  });

  function startAll() {
    document.querySelectorAll('[data-escalation-request]').forEach(function (section) {
      new Widget(section).start();
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', startAll);
  else startAll();
})();
